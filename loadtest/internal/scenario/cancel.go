package scenario

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/sampler"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Cancel sends a share of requests with a bench delay longer than the client's timeout, so the
// client gives up while the query sleeps in PostgreSQL. The cancellation has to travel HTTP →
// context → pgx → a PostgreSQL cancel. It passes when, after the settle time, the server's
// goroutines are back at their baseline, its pool holds no connection, no cancelled query still
// runs in PostgreSQL, and the requests that were not cancelled met the SLO.
func Cancel() Scenario {
	return Scenario{
		Name:        "cancel",
		Description: "a share of requests outlive the client timeout in pg_sleep; the server must clean up after the cancels",
		Default:     true,
		// The settle check counts the goroutines of requests, not of the client's idle
		// keep-alive connections (one server goroutine each until IDLE_TIMEOUT, 10 s by
		// default): an idle timeout of half the settle time closes those before the check. At
		// the scenario's rates a busy connection is never idle that long.
		ServerEnv: func(s Settings) []string {
			return []string{"IDLE_TIMEOUT=" + max(s.Settle/2, 100*time.Millisecond).String()}
		},
		Steps: func(s Settings) []Step {
			return []Step{{Rate: s.Rate, Duration: s.Duration, Warmup: s.Warmup}}
		},
		Targets: func(s Settings) attack.TargetOptions {
			return attack.TargetOptions{PostShare: s.PostShare, DelayShare: s.CancelShare, Delay: s.CancelDelay}
		},
		Timeout: func(s Settings) time.Duration { return s.CancelTimeout },
		Observe: func(r *Run, res *vegeta.Result) { r.cancel.observe(r, res) },
		Check:   checkCancel,
	}
}

// cancelState tallies cancel's results as they arrive.
type cancelState struct {
	mu         sync.Mutex
	sent       int64 // delayed requests the client gave up on
	lastCancel time.Time
	fast       []time.Duration // latencies of the requests that were not delayed
	fastErrors int64
}

func (c *cancelState) observe(r *Run, res *vegeta.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if attack.Delayed(res) {
		if res.Code == 0 && attack.Classify(res) == attack.ClassTimeout {
			if c.sent == 0 {
				r.Event("cancel_wave", "first client timeout on a delayed request")
			}
			c.sent++
			c.lastCancel = res.End()
		}
		return
	}
	c.fast = append(c.fast, res.Latency)
	if res.Code == 0 || res.Code >= 400 {
		c.fastErrors++
	}
}

func checkCancel(ctx context.Context, r *Run, sc *summary.Scenario) {
	after := r.sampler.Sample(ctx, time.Since(r.start))
	samples := r.sampler.Samples()
	set := r.Settings
	base := sampler.Stats(samples, r.attackStart.Sub(r.start), r.attackEnd.Sub(r.start), time.Since(r.start), set.GoroutineSlack)
	// The server's counter from the end of the warm-up: the harness counts only the requests
	// after it, so the warm-up's cancels must not count on the server's side either (the
	// sampler's 100 ms grain leaves a few requests of slack).
	var baseCancelled float64
	for _, s := range samples {
		if !s.ScrapeFailed && s.OffsetMs <= r.Offset(r.attackStart.Add(set.Warmup)) {
			baseCancelled = s.Cancelled
		}
	}

	c := &r.cancel
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &summary.CancelStats{
		CancelsSent:       c.sent,
		CancelsSeen:       int64(after.Cancelled - baseCancelled),
		CleanupMs:         -1,
		StillRunning:      int64(after.DBSleeping),
		PoolAcquiredAfter: after.PoolAcquired,
		GoroutinesLeaked:  after.Goroutines - base.GoroutinesBaseline,
		NonCancelledP99Ms: p99(c.fast),
		DelayMs:           ms(set.CancelDelay),
		ClientTimeoutMs:   ms(set.CancelTimeout),
		CancelShare:       set.CancelShare,
	}
	if !c.lastCancel.IsZero() {
		for _, s := range append(samples, after) {
			if !s.DBQueryFailed && s.OffsetMs >= r.Offset(c.lastCancel) && s.DBSleeping == 0 {
				st.CleanupMs = s.OffsetMs - r.Offset(c.lastCancel)
				break
			}
		}
	}
	sc.Cancel = st
	var fastErrRatio float64
	if n := len(c.fast); n > 0 {
		fastErrRatio = float64(c.fastErrors) / float64(n)
	}

	settle := fmt.Sprintf("after %s settle", set.Settle)
	sc.Checks = append(sc.Checks,
		check("cancels sent", c.sent > 0, "> 0 delayed requests timed out by the client", fmt.Sprint(c.sent)),
		check("server reachable "+settle, !after.ScrapeFailed, "/metrics readable", fmt.Sprint(!after.ScrapeFailed)),
		check("goroutines back at baseline "+settle, !after.ScrapeFailed && st.GoroutinesLeaked <= set.GoroutineSlack,
			fmt.Sprintf("≤ %.0f + %.0f", base.GoroutinesBaseline, set.GoroutineSlack), fmt.Sprintf("%.0f", after.Goroutines)),
		check("pool acquired "+settle, !after.ScrapeFailed && after.PoolAcquired == 0, "0", fmt.Sprintf("%.0f", after.PoolAcquired)),
		check("cancelled queries still in PostgreSQL "+settle, !after.DBQueryFailed && after.DBSleeping == 0, "0",
			dbGot(after)),
	)
	// "The others met their SLO": with the client timeout this short, an error among them is a
	// request slower than the timeout, so both are performance objectives (a starved generator
	// makes them INVALID, not FAIL).
	for _, ch := range sloChecks(fastErrRatio, st.NonCancelledP99Ms, set) {
		ch.Name = "non-cancelled " + ch.Name
		ch.Kind = summary.Performance
		sc.Checks = append(sc.Checks, ch)
	}
}

func dbGot(s summary.Sample) string {
	if s.DBQueryFailed {
		return "pg_stat_activity unreadable"
	}
	return fmt.Sprintf("%.0f", s.DBSleeping)
}

// p99 returns the 99th percentile of ds in milliseconds (nearest rank), 0 when empty.
func p99(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*99+99)/100 - 1
	return ms(s[min(max(i, 0), len(s)-1)])
}
