package scenario

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Shutdown runs steady load with a share of requests held in flight (bench delay) and sends the
// server SIGTERM part-way. Every result is classified (completed before/after SIGTERM, refused,
// lost); it passes when nothing accepted was lost, every acknowledged write is in PostgreSQL,
// /readyz flipped before the listener closed, and the server exited 0 within its drain timeout.
func Shutdown() Scenario {
	return shutdownScenario("shutdown",
		"steady load + held requests, SIGTERM mid-attack: graceful drain, no accepted request lost, every 201 persisted",
		true, func(s Settings) time.Duration { return s.DrainTimeout })
}

// ShutdownShortDrain is Shutdown with a drain timeout shorter than the held requests: the server
// has to Close them, and the scenario must FAIL naming the forced shutdown and the requests it
// cut. It shows the shutdown checks can fail; it is selectable by name only.
func ShutdownShortDrain() Scenario {
	return shutdownScenario("shutdown-short-drain",
		"shutdown with a drain timeout shorter than the held requests: must fail as a forced shutdown",
		false, func(s Settings) time.Duration { return s.ShortDrainTimeout })
}

func shutdownScenario(name, desc string, def bool, drain func(Settings) time.Duration) Scenario {
	return Scenario{
		Name:        name,
		Description: desc,
		Default:     def,
		Signals:     true,
		ServerEnv: func(s Settings) []string {
			return []string{
				"SHUTDOWN_TIMEOUT=" + drain(s).String(),
				"DRAIN_DELAY=" + s.DrainDelay.String(),
			}
		},
		Steps: func(s Settings) []Step {
			return []Step{{Rate: s.Rate, Duration: s.ShutdownDuration}}
		},
		Targets: func(s Settings) attack.TargetOptions {
			return attack.TargetOptions{PostShare: s.PostShare, DelayShare: s.HoldShare, Delay: s.HoldDelay}
		},
		// Held requests must not be given up by the client: only the server may end them.
		Timeout: func(s Settings) time.Duration { return s.HoldDelay + drain(s) + 5*time.Second },
		Observe: func(r *Run, res *vegeta.Result) { r.shutdown.observe(res) },
		Disturb: func(ctx context.Context, r *Run) error { return sigterm(ctx, r, drain(r.Settings)) },
		Check:   func(ctx context.Context, r *Run, sc *summary.Scenario) { checkShutdown(ctx, r, sc, drain(r.Settings)) },
	}
}

// shutdownState is what the shutdown scenario records.
type shutdownState struct {
	mu        sync.Mutex
	results   []shutdownResult
	sigterm   time.Time
	readyz    time.Time // first /readyz 503
	closed    time.Time // first connection refused on the API port
	exited    time.Time
	exitCode  int
	killed    bool // did not exit within its drain timeout (plus margin): killed by the harness
	signalErr error
}

// shutdownResult is the part of a result the classification needs (bodies are not kept).
type shutdownResult struct {
	ts      time.Time
	latency time.Duration
	code    uint16
	err     string
	method  string
	url     string
	id      int64 // created item id of a 201, 0 otherwise
	delayed bool
	traceID string
}

func (s *shutdownState) observe(res *vegeta.Result) {
	sr := shutdownResult{ts: res.Timestamp, latency: res.Latency, code: res.Code, err: res.Error,
		method: res.Method, url: res.URL, delayed: attack.Delayed(res)}
	sr.traceID, _ = attack.TraceOf(res)
	if id, ok := createdID(res); ok {
		sr.id = id
	}
	s.mu.Lock()
	s.results = append(s.results, sr)
	s.mu.Unlock()
}

// sigterm waits for the set time, signals the server and watches the drain: /readyz on the
// admin port and connects to the API port, both polled every few milliseconds, until the
// process exits (or is killed after its drain timeout plus a margin).
func sigterm(ctx context.Context, r *Run, drain time.Duration) error {
	st := &r.shutdown
	if !sleep(ctx, time.Until(r.AttackStart().Add(r.Settings.ShutdownAt))) {
		return nil
	}
	r.ExpectExit()
	now := time.Now()
	if err := r.Server.Signal(syscall.SIGTERM); err != nil {
		st.mu.Lock()
		st.signalErr = err
		st.mu.Unlock()
		return fmt.Errorf("send SIGTERM: %w", err)
	}
	st.mu.Lock()
	st.sigterm = now
	st.mu.Unlock()
	r.Event("sigterm", "")

	watchCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() {
		if t, ok := pollReadyz(watchCtx, r.Server.Admin()); ok {
			st.mu.Lock()
			st.readyz = t
			st.mu.Unlock()
			r.eventAt("readyz_503", t, "")
		}
	})
	wg.Go(func() {
		if t, ok := pollListener(watchCtx, r.Server.API()); ok {
			st.mu.Lock()
			st.closed = t
			st.mu.Unlock()
			r.eventAt("listener_closed", t, "")
		}
	})
	// The server has DRAIN_DELAY + SHUTDOWN_TIMEOUT to drain, then Close and the pool and
	// telemetry teardown; 5 s past that it is stuck, and the harness kills it.
	limit := r.Settings.DrainDelay + drain + 5*time.Second
	killed := false
	select {
	case <-r.Server.Exited():
	case <-time.After(limit):
		killed = true
		_ = r.Server.Stop(0)
	}
	stop()
	wg.Wait()
	st.mu.Lock()
	st.exited, st.exitCode, st.killed = r.Server.ExitedAt(), r.Server.ExitCode(), killed
	st.mu.Unlock()
	r.eventAt("exit", st.exited, fmt.Sprintf("code %d", st.exitCode))
	return nil
}

// eventAt marks an event at a past moment t.
func (r *Run) eventAt(name string, t time.Time, detail string) {
	r.mu.Lock()
	r.events = append(r.events, summary.Event{OffsetMs: r.Offset(t), Name: name, Detail: detail})
	slices.SortStableFunc(r.events, func(a, b summary.Event) int { return cmp.Compare(a.OffsetMs, b.OffsetMs) })
	r.mu.Unlock()
	r.Metrics.Event(r.Name, name)
}

// pollReadyz returns the send time of the earliest /readyz probe answered 503. Probes leave every
// 5 ms without waiting for the previous answer: on a loaded machine one answer can take hundreds
// of milliseconds, which a probe-after-probe loop would add to the flip time. It stops when a
// 503 has come back, the admin port refuses connections, or ctx ends (false when no 503 came).
func pollReadyz(ctx context.Context, admin string) (time.Time, bool) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	client := &http.Client{Timeout: 2 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, Proxy: nil}}
	defer client.CloseIdleConnections()
	var (
		mu      sync.Mutex
		first   time.Time
		refused bool
		wg      sync.WaitGroup
	)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		mu.Lock()
		done := !first.IsZero() || refused
		mu.Unlock()
		if done || ctx.Err() != nil {
			break
		}
		sent := time.Now()
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/readyz", nil)
			resp, err := client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refused = refused || isRefused(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && (first.IsZero() || sent.Before(first)) {
				first = sent
			}
		})
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	// Probes still in flight may have been sent earlier than the first 503 seen: wait for them
	// (bounded by the client timeout) so the earliest send time wins.
	wg.Wait()
	return first, !first.IsZero()
}

// pollListener returns the start time of the first TCP connect to the API port that was
// refused (the listener was closed by then).
func pollListener(ctx context.Context, api string) (time.Time, bool) {
	u, err := url.Parse(api)
	if err != nil {
		return time.Time{}, false
	}
	d := net.Dialer{Timeout: time.Second}
	for ctx.Err() == nil {
		start := time.Now()
		c, err := d.DialContext(ctx, "tcp", u.Host)
		if err == nil {
			c.Close()
		} else if isRefused(err) {
			return start, true
		}
		sleep(ctx, 5*time.Millisecond)
	}
	return time.Time{}, false
}

func isRefused(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection refused") || errorsIsRefused(err))
}

func errorsIsRefused(err error) bool {
	var se syscall.Errno
	for e := err; e != nil; {
		if x, ok := e.(syscall.Errno); ok {
			se = x
			return se == syscall.ECONNREFUSED
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

func checkShutdown(ctx context.Context, r *Run, sc *summary.Scenario, drain time.Duration) {
	st := &r.shutdown
	st.mu.Lock()
	defer st.mu.Unlock()
	set := r.Settings
	ss := &summary.ShutdownStats{
		ReadyzFlipMs: -1, ListenerClosedMs: -1, DrainMs: -1, ExitCode: st.exitCode,
		DrainTimeoutMs: ms(drain), Classes: map[string]int64{CompletedBefore: 0, CompletedAfter: 0, Refused: 0, Lost: 0},
	}
	sc.Shutdown = ss
	if st.sigterm.IsZero() {
		reason := "SIGTERM was never sent (the attack ended first)"
		if st.signalErr != nil {
			reason = st.signalErr.Error()
		}
		sc.Checks = append(sc.Checks, check("SIGTERM sent", false, "sent during the attack", reason))
		return
	}
	ss.SigtermOffsetMs = r.Offset(st.sigterm)
	if !st.readyz.IsZero() {
		ss.ReadyzFlipMs = ms(st.readyz.Sub(st.sigterm))
	}
	if !st.closed.IsZero() {
		ss.ListenerClosedMs = ms(st.closed.Sub(st.sigterm))
	}
	if !st.exited.IsZero() {
		ss.DrainMs = ms(st.exited.Sub(st.sigterm))
	}
	// Exit code 3 is the server's forced drain (docs/contracts.md); a kill by the harness is
	// forced as well.
	ss.Forced = st.exitCode == 3 || st.killed

	var acked []int64
	var heldCut int64
	for _, res := range st.results {
		vr := &vegeta.Result{Code: res.code, Timestamp: res.ts, Latency: res.latency, Error: res.err}
		class := classify(vr, st.sigterm, st.closed)
		ss.Classes[class]++
		if res.ts.Before(st.sigterm) && vr.End().After(st.sigterm) {
			ss.LongestInFlightMs = max(ss.LongestInFlightMs, ms(res.latency))
		}
		if res.id != 0 {
			acked = append(acked, res.id)
		}
		if class == Lost {
			if res.delayed {
				heldCut++
			}
			sc.Lost = append(sc.Lost, summary.Request{
				OffsetMs: r.Offset(res.ts), Method: res.method, URL: res.url, Code: int(res.code),
				LatencyMs: ms(res.latency), Error: res.err, Class: Lost, TraceID: res.traceID,
			})
		}
	}
	slices.SortFunc(sc.Lost, func(a, b summary.Request) int { return cmp.Compare(a.OffsetMs, b.OffsetMs) })
	ss.WritesAcked = int64(len(acked))
	persistCheck := check("acknowledged writes persisted", false, "every POST answered 201 found in PostgreSQL", "")
	switch {
	case r.DB == nil:
		persistCheck.Got = "no database connection to check (-database-url)"
	case len(acked) == 0:
		persistCheck.Got = "no POST was answered 201: nothing to check"
	default:
		found, err := persisted(ctx, r.DB, acked)
		if err != nil {
			persistCheck.Got = err.Error()
			break
		}
		ss.WritesFound = int64(len(found))
		ss.MissingIDs = missing(acked, found)
		persistCheck.Pass = len(ss.MissingIDs) == 0
		persistCheck.Got = fmt.Sprintf("%d of %d", len(found), len(acked))
		if n := len(ss.MissingIDs); n > 0 {
			persistCheck.Got += fmt.Sprintf("; missing ids %s", idList(ss.MissingIDs, 10))
		}
	}

	lostGot := fmt.Sprint(ss.Classes[Lost])
	if n := ss.Classes[Lost]; n > 0 {
		first := sc.Lost[0]
		what := first.Error
		if what == "" {
			what = fmt.Sprintf("status %d", first.Code)
		}
		lostGot = fmt.Sprintf("%d (%d held requests cut; first: sent %+.0fms from SIGTERM, failed after %.0fms: %s)",
			n, heldCut, first.OffsetMs-ss.SigtermOffsetMs, first.LatencyMs, what)
	}
	exitGot := fmt.Sprintf("exit %d after %.0fms", st.exitCode, ss.DrainMs)
	switch {
	case st.killed:
		exitGot = fmt.Sprintf("still running %s after SIGTERM: killed", set.DrainDelay+drain+5*time.Second)
	case st.exitCode == 3:
		exitGot = fmt.Sprintf("forced shutdown: exit 3 after %.0fms (Close after SHUTDOWN_TIMEOUT=%s cut the held requests)", ss.DrainMs, drain)
	}
	// The server may take its drain delay plus its drain timeout, then closes the pool and
	// flushes telemetry: one second of margin for those.
	drainLimit := ms(set.DrainDelay + drain + time.Second)
	flip := ss.ReadyzFlipMs >= 0 && ss.ListenerClosedMs >= 0 && ss.ReadyzFlipMs <= ss.ListenerClosedMs
	sc.Checks = append(sc.Checks,
		check("accepted requests lost", ss.Classes[Lost] == 0, "0", lostGot),
		persistCheck,
		check("/readyz flipped before the listener closed", flip, "readyz 503 ≤ listener closed",
			fmt.Sprintf("readyz 503 at %s, listener closed at %s after SIGTERM", msOrNever(ss.ReadyzFlipMs), msOrNever(ss.ListenerClosedMs))),
		check("clean exit", st.exitCode == 0 && !st.killed, "exit 0 (graceful drain)", exitGot),
		check("drain within the timeout", ss.DrainMs >= 0 && ss.DrainMs <= drainLimit,
			fmt.Sprintf("≤ %.0fms (drain delay + SHUTDOWN_TIMEOUT + 1s)", drainLimit), msOrNever(ss.DrainMs)),
	)
}

func msOrNever(v float64) string {
	if v < 0 {
		return "never"
	}
	return fmt.Sprintf("%.0fms", v)
}

func idList(ids []int64, n int) string {
	var b strings.Builder
	for i, id := range ids {
		if i == n {
			fmt.Fprintf(&b, " … (%d more)", len(ids)-n)
			break
		}
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprint(&b, id)
	}
	return b.String()
}
