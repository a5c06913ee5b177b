package scenario

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Cancel sends a share of requests with a bench delay longer than their client timeout, so the
// client gives up while the query sleeps in PostgreSQL. The cancellation has to travel HTTP →
// context → pgx → a PostgreSQL cancel. The other requests keep the normal client timeout and are
// judged like steady's. It passes when the server saw every cancel the client made, and after
// the settle time its goroutines are back at their baseline, its pool holds no connection, no
// cancelled query still runs in PostgreSQL (gone within the cleanup bound), and the requests
// that were not held met the SLO.
func Cancel() Scenario {
	return Scenario{
		Name:        "cancel",
		Description: "a share of requests outlive their client timeout in pg_sleep; the server must clean up after the cancels",
		Default:     true,
		ServerEnv: func(s Settings) []string {
			return append([]string{
				// The settle check counts the goroutines of requests, not of the client's idle
				// keep-alive connections (one server goroutine each until IDLE_TIMEOUT, 10 s by
				// default): an idle timeout of half the settle time closes those before the
				// check. At the scenario's rates a busy connection is never idle that long.
				"IDLE_TIMEOUT=" + max(s.Settle/2, 100*time.Millisecond).String(),
			},
				// A held request keeps its connection until its cancel has reached PostgreSQL: at
				// most the client timeout plus the server's cancel give-up, after which it closes
				// the connection. Sized for the 100 ms a quiet machine takes, the pool ran out
				// beside two CPU hogs (PostgreSQL forks a process per cancel request).
				poolEnv(s, s.Rate*s.Cancel.Share, s.Cancel.Timeout+serverCancelGiveUp)...)
		},
		Step: func(s Settings) Step {
			return Step{Rate: s.Rate, Duration: s.Duration, Warmup: s.Warmup, HeldTimeout: s.Cancel.Timeout}
		},
		Targets: func(s Settings) attack.TargetOptions {
			return attack.TargetOptions{DelayShare: s.Cancel.Share, Delay: s.Cancel.Delay}
		},
		Start: func(l *Live) Hooks {
			c := &cancelRun{live: l}
			return Hooks{Observe: c.observe, Check: c.check}
		},
	}
}

// serverCancelGiveUp is the server's bound on a cancel: it resends the cancel request every
// 100 ms and closes the connection after 500 ms (server/internal/postgres/cancel.go).
const serverCancelGiveUp = 500 * time.Millisecond

// cancelRun tallies cancel's hits as they arrive (on the engine's goroutine; read after it).
type cancelRun struct {
	live       *Live
	timeouts   int64 // client timeouts, warm-up included: each is a cancel the server must see
	heldGiven  int64 // counted held requests the client gave up on
	lastCancel time.Time
	fast       []time.Duration // latencies from the intended send time of the counted, not held
	fastErrors int64
}

func (c *cancelRun) observe(h *attack.Hit) {
	timedOut := h.Code == 0 && h.Class == attack.ClassTimeout
	if timedOut {
		if c.timeouts == 0 {
			c.live.Event(summary.EventCancelWave, "first client timeout")
		}
		c.timeouts++
		c.lastCancel = h.End()
	}
	if !h.Counted {
		return
	}
	if attack.Delayed(h.Result) {
		if timedOut {
			c.heldGiven++
		}
		return
	}
	c.fast = append(c.fast, h.IntendedLatency())
	if h.Class != "" {
		c.fastErrors++
	}
}

func (c *cancelRun) check(ctx context.Context, sc *summary.Scenario) {
	l := c.live
	set := l.Settings
	sig := l.Signals
	after := l.Sampler.Sample(ctx, time.Since(l.start))
	base := l.ServerStats(time.Now())
	st := &summary.CancelStats{
		CancelsSent:       c.timeouts,
		CancelsSeen:       int64(after.Cancelled - c.cancelledBefore()),
		CleanupMs:         c.cleanupMs(after),
		StillRunning:      int64(after.DBSleeping),
		PoolAcquiredAfter: after.PoolAcquired,
		GoroutinesLeaked:  after.Goroutines - base.GoroutinesBaseline,
		NonCancelledP99Ms: p99(c.fast),
		DelayMs:           summary.Ms(set.Cancel.Delay),
		ClientTimeoutMs:   summary.Ms(set.Cancel.Timeout),
		CancelShare:       set.Cancel.Share,
	}
	// −1: not available (summary.CancelStats), so no report shows a figure nobody measured.
	if !sig.Cancelled {
		st.CancelsSeen = -1
	}
	if !sig.Database {
		st.StillRunning, st.CleanupMs = -1, -1
	}
	sc.Cancel = st
	settle := fmt.Sprintf("after %s settle", set.Settle)
	sc.Checks = append(sc.Checks,
		summary.NewCheck(summary.Validity, "cancels sent", c.heldGiven > 0,
			"> 0 held requests given up by the client (held longer than -cancel-timeout: the items server needs BENCH_DELAY=on)", fmt.Sprint(c.heldGiven)))
	if sig.MetricsURL != "" || sig.Goroutines != "" {
		sc.Checks = append(sc.Checks, check("server signals readable "+settle, !after.ScrapeFailed,
			"/metrics (or the goroutine profile) readable", fmt.Sprint(!after.ScrapeFailed)))
	}
	seen := notAvailable("cancels the server saw", fmt.Sprintf("the client's %d", st.CancelsSent), exposeCancelled)
	if sig.Cancelled {
		seen = c.seenCheck(st, after, generatorKeptUp(sc.Checks))
	}
	sc.Checks = append(sc.Checks, seen)
	db := c.dbChecks(after, st, settle) // still running, cleanup
	goroutinesName := "goroutines back at baseline " + settle
	goroutines := notAvailable(goroutinesName, "baseline + slack", exposeGoroutines)
	if sig.Goroutines != "" {
		goroutines = check(goroutinesName, !after.ScrapeFailed && st.GoroutinesLeaked <= set.GoroutineSlack,
			fmt.Sprintf("≤ %.0f + %.0f", base.GoroutinesBaseline, set.GoroutineSlack), fmt.Sprintf("%.0f", after.Goroutines))
	}
	pool := notAvailable("pool acquired "+settle, "0", exposePool)
	if sig.Pool {
		pool = check("pool acquired "+settle, !after.ScrapeFailed && after.PoolAcquired == 0, "0", fmt.Sprintf("%.0f", after.PoolAcquired))
	}
	settleChecks := []summary.Check{goroutines, pool, db[0]}
	if !generatorKeptUp(sc.Checks) {
		c.settleLate(ctx, settleChecks, base.GoroutinesBaseline)
	}
	sc.Checks = append(append(sc.Checks, settleChecks...), db[1])
	if sig.Goroutines == "" && !sig.Cancelled && !sig.Database {
		// Without any of them the cancel's essence, the server's cleanup, was not seen at all:
		// the client side alone would pass a server that leaks every request.
		sc.Checks = append(sc.Checks, summary.NewCheck(summary.Validity, "server-side signal", false,
			"goroutines, cancels seen or PostgreSQL activity", "none: "+exposeGoroutines+", or "+exposeCancelled+", or "+exposeDatabase))
	}
	var errRatio float64
	if n := len(c.fast); n > 0 {
		errRatio = float64(c.fastErrors) / float64(n)
	}
	for _, ch := range sloChecks(errRatio, st.NonCancelledP99Ms, l) {
		ch.Name = "non-cancelled " + ch.Name
		sc.Checks = append(sc.Checks, ch)
	}
}

// settleSlowly is how long a starved machine gets beyond the settle time to show that a failed
// settle check was slowness, not a leak: a leaked goroutine or a query that was never cancelled
// is still there after it.
const settleSlowly = 5 * time.Second

// settleLate re-reads the settle checks (goroutines, pool, queries in PostgreSQL) of a run whose
// generator fell behind (the machine was starved, so the server's cleanup was too) until they
// all hold or settleSlowly passes. Checks that held later become validity failures that say so;
// a leak stays a correctness failure.
func (c *cancelRun) settleLate(ctx context.Context, checks []summary.Check, baseline float64) {
	l := c.live
	var failed []*summary.Check
	for i := range checks {
		if !checks[i].Pass && checks[i].Kind == summary.Correctness {
			failed = append(failed, &checks[i])
		}
	}
	if len(failed) == 0 {
		return
	}
	start := time.Now()
	for time.Since(start) < settleSlowly && sleep(ctx, l.Settings.SampleEvery) {
		smp := l.Sampler.Sample(ctx, time.Since(l.start))
		clean := !smp.ScrapeFailed && smp.Goroutines <= baseline+l.Settings.GoroutineSlack && smp.PoolAcquired == 0 &&
			(!l.Signals.Database || (!smp.DBQueryFailed && smp.DBSleeping == 0))
		if clean {
			for _, ch := range failed {
				ch.Kind = summary.Validity
				ch.Got += fmt.Sprintf("; clean %.1fs later: the generator fell behind, the machine was starved, and the cleanup with it (a leak stays)",
					time.Since(start).Seconds())
			}
			return
		}
	}
}

// cancelledBefore is the server's cancelled counter before the attack: the last sample before
// it started. With the client's timeouts counted from the same start (warm-up included), the
// two sides count the same requests.
func (c *cancelRun) cancelledBefore() float64 {
	var v float64
	for _, s := range c.live.Sampler.Samples() {
		if !s.ScrapeFailed && s.OffsetMs <= c.live.Offset(c.live.attackStart) {
			v = s.Cancelled
		}
	}
	return v
}

// seenCheck: every client timeout is a request the server must see cancelled, and the server
// sees no cancel the client did not make. The slack is for the race a timeout can lose: a
// response written in the same instant counts on the client as a timeout and on the server as
// served. When the generator fell behind (the machine was starved), a request can time out
// before the server has even read it, so a shortfall then judges the machine, not the server
// (validity); more cancels than the client made is always the server's.
func (c *cancelRun) seenCheck(st *summary.CancelStats, after summary.Sample, generatorOK bool) summary.Check {
	slack := max(2, st.CancelsSent/50)
	diff := st.CancelsSeen - st.CancelsSent
	ch := check("cancels the server saw", !after.ScrapeFailed && diff <= slack && -diff <= slack,
		fmt.Sprintf("the client's %d ± %d", st.CancelsSent, slack),
		fmt.Sprintf("%d (http_server_requests_cancelled_total since the attack started)", st.CancelsSeen))
	if !ch.Pass && !after.ScrapeFailed && diff < 0 && !generatorOK {
		ch.Kind = summary.Validity
		ch.Got += "; the generator fell behind, so some requests timed out before the server read them"
	}
	return ch
}

// generatorKeptUp reports whether every validity check so far (the engine's) passed.
func generatorKeptUp(checks []summary.Check) bool {
	for _, c := range checks {
		if c.Kind == summary.Validity && !c.Pass {
			return false
		}
	}
	return true
}

// dbChecks read pg_stat_activity through the harness's own connection; without one they are not
// measured (never a PASS on no data).
func (c *cancelRun) dbChecks(after summary.Sample, st *summary.CancelStats, settle string) []summary.Check {
	const stillName, cleanupName = "cancelled queries still in PostgreSQL ", "cleanup after the last cancel"
	maxCleanup := c.live.Settings.Cancel.MaxCleanup
	cleanupWant := "≤ " + maxCleanup.String()
	switch {
	case c.live.Server.DBApplication() == "":
		return []summary.Check{notAvailable(stillName+settle, "0", exposeDatabase), notAvailable(cleanupName, cleanupWant, exposeDatabase)}
	case c.live.DB == nil:
		why := "no database connection (-database-url)"
		return []summary.Check{notMeasured(stillName+settle, "0", why), notMeasured(cleanupName, cleanupWant, why)}
	case after.DBQueryFailed:
		return []summary.Check{notMeasured(stillName+settle, "0", "pg_stat_activity unreadable"),
			notMeasured(cleanupName, cleanupWant, "pg_stat_activity unreadable")}
	}
	cleanupGot := msOrNever(st.CleanupMs)
	return []summary.Check{
		check(stillName+settle, after.DBSleeping == 0, "0", fmt.Sprintf("%.0f", after.DBSleeping)),
		check(cleanupName, st.CleanupMs >= 0 && st.CleanupMs <= summary.Ms(maxCleanup), cleanupWant, cleanupGot),
	}
}

// cleanupMs is the time from the last client timeout to the first sample without a cancelled
// query in PostgreSQL (−1: never, or nothing to clean up).
func (c *cancelRun) cleanupMs(after summary.Sample) float64 {
	if c.lastCancel.IsZero() || !c.live.Signals.Database {
		return -1
	}
	from := c.live.Offset(c.lastCancel)
	for _, s := range append(c.live.Sampler.Samples(), after) {
		if !s.DBQueryFailed && s.OffsetMs >= from && s.DBSleeping == 0 {
			return s.OffsetMs - from
		}
	}
	return -1
}

// p99 returns the 99th percentile of ds in milliseconds (nearest rank), 0 when empty.
func p99(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*99+99)/100 - 1
	return summary.Ms(s[min(max(i, 0), len(s)-1)])
}
