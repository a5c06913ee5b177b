package scenario

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/drain"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Shutdown runs steady load with a share of requests held in flight (bench delay) and sends the
// server SIGTERM part-way. Every result is classified (completed before/after SIGTERM, refused,
// lost); it passes when nothing accepted was lost, every acknowledged write is in PostgreSQL,
// /readyz flipped before the listener closed, and the server exited 0 within its drain timeout.
func Shutdown() Scenario {
	return shutdownScenario("shutdown",
		"steady load + held requests, SIGTERM mid-attack: graceful drain, no accepted request lost, every 201 persisted",
		true, func(s Settings) time.Duration { return s.Shutdown.DrainTimeout })
}

// ShutdownShortDrain is Shutdown with a drain timeout shorter than the held requests: the server
// has to Close them, and the scenario must FAIL naming the forced shutdown and the requests it
// cut. It shows the shutdown checks can fail; it is selectable by name only.
func ShutdownShortDrain() Scenario {
	sc := shutdownScenario("shutdown-short-drain",
		"shutdown with a drain timeout shorter than the held requests: must fail as a forced shutdown",
		false, func(s Settings) time.Duration { return s.Shutdown.ShortDrainTimeout })
	sc.ManagedOnly = true // the short drain timeout is the server's setting, given by the harness
	return sc
}

func shutdownScenario(name, desc string, def bool, drain func(Settings) time.Duration) Scenario {
	return Scenario{
		Name:        name,
		Description: desc,
		Default:     def,
		Signals:     true,
		// The accepted-connection check reads the listener's counts in the moments after
		// SIGTERM, before the server exits: a reading a second old would miss them.
		ServerEvery: func(s Settings) time.Duration { return s.SampleEvery },
		ServerEnv: func(s Settings) []string {
			sh := s.Shutdown
			return append([]string{
				"SHUTDOWN_TIMEOUT=" + drain(s).String(),
				"DRAIN_DELAY=" + sh.DrainDelay.String(),
			}, poolEnv(s, s.Rate*sh.HoldShare, sh.HoldDelay)...)
		},
		Step: func(s Settings) Step {
			// Held requests must not be given up by the client: only the server may end them.
			// The warm-up dials the client's and the pool's connections, so the first seconds'
			// cold start (new PostgreSQL backends on a loaded machine: 200 ms) is not judged.
			return Step{Rate: s.Rate, Duration: s.Shutdown.Duration, Warmup: s.Warmup,
				Timeout: s.Shutdown.HoldDelay + drain(s) + 5*time.Second}
		},
		Targets: func(s Settings) attack.TargetOptions {
			return attack.TargetOptions{DelayShare: s.Shutdown.HoldShare, Delay: s.Shutdown.HoldDelay}
		},
		Start: func(l *Live) Hooks {
			st := &shutdownRun{live: l, drain: drain(l.Settings)}
			return Hooks{Observe: st.observe, Disturb: st.sigterm, Check: st.check}
		},
	}
}

// shutdownRun is what the shutdown scenario records during one run. The results come from the
// engine's goroutine, the moments from the disturbance's: both are read after the attack.
type shutdownRun struct {
	live    *Live
	drain   time.Duration // the server's SHUTDOWN_TIMEOUT
	results []shutdownResult

	mu        sync.Mutex
	sigtermAt time.Time
	readyz    time.Time // first /readyz 503 (by send time)
	closed    time.Time // first connection refused on the API port
	exited    time.Time
	exitCode  int
	killed    bool // did not exit within its drain timeout (plus margin): killed by the harness
	signalErr error
	// byCommand: the -signal-cmd signalled a server the harness did not start. The exit code is
	// not seen; exited is when its admin listener (closed last) first refused a connection.
	byCommand bool
	// stillDraining: after its drain time the command-signalled server's admin listener was
	// still open, and /readyz answered 503.
	stillDraining bool
	// queue: the accept-queue readings from SIGTERM until the listener closed; nil when the
	// kernel's view of the server is out of reach.
	queue *queueWatch
}

// shutdownResult is the part of a result the classification needs (bodies are not kept).
type shutdownResult struct {
	ts       time.Time
	latency  time.Duration
	intended time.Duration // latency from the intended send time
	sentAt   time.Time     // the intended send time
	counted  bool
	code     uint16
	err      string
	method   string
	url      string
	id       int64 // created item id of a 201, 0 otherwise
	delayed  bool
	traceID  string
}

// observe keeps every hit, warm-up ones too: a request lost at SIGTERM is lost whenever it was
// sent. Only the counted ones are judged against the SLO.
func (s *shutdownRun) observe(h *attack.Hit) {
	res := h.Result
	sr := shutdownResult{ts: res.Timestamp, latency: res.Latency, intended: h.IntendedLatency(),
		sentAt: res.Timestamp.Add(-h.Late), counted: h.Counted, code: res.Code,
		err: res.Error, method: res.Method, url: res.URL, delayed: attack.Delayed(res)}
	sr.traceID, _ = attack.TraceOf(res)
	if id, ok := createdID(res); ok {
		sr.id = id
	}
	s.results = append(s.results, sr)
}

// sigterm waits for the set time, then signals the server: SIGTERM to the process the harness
// started, or the operator's -signal-cmd for a server it did not start.
func (s *shutdownRun) sigterm(ctx context.Context) error {
	l := s.live
	if !sleep(ctx, time.Until(l.AttackStart().Add(l.Settings.Warmup+l.Settings.Shutdown.At))) {
		return nil
	}
	if p := l.Server.Process; p != nil {
		return s.signalProcess(ctx, p)
	}
	return s.signalCommand(ctx)
}

// signalProcess sends SIGTERM and watches the drain until the process exits (or is killed after
// its drain timeout plus a margin).
func (s *shutdownRun) signalProcess(ctx context.Context, p Process) error {
	l := s.live
	l.ExpectExit()
	now := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		s.mu.Lock()
		s.signalErr = err
		s.mu.Unlock()
		return fmt.Errorf("send SIGTERM: %w", err)
	}
	s.mu.Lock()
	s.sigtermAt = now
	s.mu.Unlock()
	l.Event(summary.EventSigterm, "")
	stopWatch := s.watch(ctx)
	// The server has DRAIN_DELAY + SHUTDOWN_TIMEOUT to drain, then Close and the pool and
	// telemetry teardown; 5 s past that it is stuck, and the harness kills it.
	killed := false
	select {
	case <-p.Exited():
	case <-time.After(s.killAfter()):
		killed = true
		_ = p.Stop(0)
	}
	stopWatch()
	s.mu.Lock()
	s.exited, s.exitCode, s.killed = p.ExitedAt(), p.ExitCode(), killed
	s.mu.Unlock()
	l.EventAt(summary.EventExit, p.ExitedAt(), fmt.Sprintf("code %d", p.ExitCode()))
	return nil
}

// signalCommand runs the -signal-cmd and watches the drain as a client sees it, until the admin
// listener (the server's last step before it exits) refuses connections, or the drain's
// time is up. Its output goes into the events; its failure is a set-up failure, not the
// server's.
func (s *shutdownRun) signalCommand(ctx context.Context) error {
	l := s.live
	if l.Server.Terminate == nil {
		return &SetupError{errors.New("the harness did not start this server and has no -signal-cmd to signal it")}
	}
	now := time.Now()
	s.mu.Lock()
	s.sigtermAt, s.byCommand = now, true
	s.mu.Unlock()
	// The signal lands while the command runs (kubectl: after an API call and the kubelet), so
	// the watch starts with it and every offset counts from the command's start.
	l.Event(summary.EventSigterm, "-signal-cmd")
	stopWatch := s.watch(ctx)
	defer stopWatch()
	out, err := l.Server.Terminate(ctx)
	l.Event(summary.EventSignalCmd, commandDetail(out, err, time.Since(now)))
	if err != nil {
		s.mu.Lock()
		s.signalErr = err
		s.mu.Unlock()
		return &SetupError{fmt.Errorf("-signal-cmd: %w", err)}
	}
	waitCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), now.Add(s.killAfter()))
	defer cancel()
	gone, ok := drain.FirstRefused(waitCtx, l.Server.Admin())
	if !ok {
		s.mu.Lock()
		s.stillDraining = l.Signals.ReadyURL != "" && drain.ReadyStatus(context.WithoutCancel(ctx), l.Signals.ReadyURL) == http.StatusServiceUnavailable
		s.mu.Unlock()
		return nil
	}
	stopWatch() // its API poll has seen the close by now, unless the API port is the one polled here
	s.mu.Lock()
	s.exited = gone
	sameListener := s.closed.IsZero() && l.Server.Admin() == l.Server.API()
	if sameListener {
		s.closed = gone
	}
	s.mu.Unlock()
	if sameListener {
		l.EventAt(summary.EventListenerClosed, gone, "")
	}
	l.EventAt(summary.EventAdminClosed, gone, "")
	return nil
}

// commandDetail is the signal command's event detail: how it ended and its output on one line.
func commandDetail(out string, err error, took time.Duration) string {
	d := fmt.Sprintf("exit 0 after %s", took.Round(time.Millisecond))
	if err != nil {
		d = fmt.Sprintf("failed after %s: %v", took.Round(time.Millisecond), err)
	}
	if out = strings.Join(strings.Fields(out), " "); out != "" {
		d += "; output: " + out
	}
	return d
}

// watch polls /readyz on the admin port every few milliseconds and marks the first 503, and
// marks the API listener's close: from the kernel's readings of its accept queue when the
// server's sockets are in reach (exact to the poll, and they record the queue), else from the
// first refused connection. It runs until the returned func is called.
func (s *shutdownRun) watch(ctx context.Context) (stop func()) {
	l := s.live
	watchCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	listenerClosed := func(t time.Time, how string) {
		s.mu.Lock()
		s.closed = t
		s.mu.Unlock()
		l.EventAt(summary.EventListenerClosed, t, how)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if l.Signals.ReadyURL == "" {
			return
		}
		if t, ok := drain.FirstNotReady(watchCtx, l.Signals.ReadyURL); ok {
			s.mu.Lock()
			s.readyz = t
			s.mu.Unlock()
			l.EventAt(summary.EventReadyz503, t, "")
		}
	})
	// A server the harness did not start may sit behind a local proxy (docker-proxy, kubectl
	// port-forward) whose listener outlives it: there the close is what a client sees.
	byKernel := l.kernel != nil && l.Server.Process != nil
	stopQueue := func() {}
	if l.kernel != nil {
		closed := func(t time.Time) {
			if byKernel {
				listenerClosed(t, "no listener on the port (sock_diag)")
			}
		}
		q, stop := watchQueue(watchCtx, l.kernel, closed)
		s.mu.Lock()
		s.queue = q
		s.mu.Unlock()
		stopQueue = stop
	}
	if !byKernel {
		wg.Go(func() {
			if t, ok := drain.FirstRefused(watchCtx, l.Server.API()); ok {
				listenerClosed(t, "")
			}
		})
	}
	return sync.OnceFunc(func() { cancel(); wg.Wait(); stopQueue() })
}

func (s *shutdownRun) killAfter() time.Duration {
	return s.live.Settings.Shutdown.DrainDelay + s.drain + 5*time.Second
}

func (s *shutdownRun) check(ctx context.Context, sc *summary.Scenario) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := &summary.ShutdownStats{
		ReadyzFlipMs: -1, ListenerClosedMs: -1, DrainMs: -1, ExitCode: s.exitCode,
		DrainTimeoutMs: summary.Ms(s.drain), AcceptQueueSeen: -1,
		Classes: map[string]int64{CompletedBefore: 0, CompletedAfter: 0, Refused: 0, AcceptQueueReset: 0, Lost: 0},
	}
	sc.Shutdown = ss
	if s.sigtermAt.IsZero() {
		reason := "SIGTERM was never sent (the attack ended first)"
		if s.signalErr != nil {
			reason = s.signalErr.Error()
		}
		sc.Checks = append(sc.Checks, check("SIGTERM sent", false, "sent during the attack", reason))
		return
	}
	s.timings(ss)
	acked, heldCut, before := s.classifyAll(ss, sc)
	sc.Checks = append(sc.Checks, s.lostCheck(ss, sc.Lost, heldCut, sc.SendLateness.P99), s.queueCheck(ss), s.persistCheck(ctx, ss, acked))
	sc.Checks = append(sc.Checks, s.acceptedCheck())
	sc.Checks = append(sc.Checks, s.drainChecks(ss)...)
	// Before SIGTERM the scenario is steady load with held requests: the others must meet the
	// SLO, or the drain measured below is a queue the pool could not serve, not a drain.
	var errRatio float64
	if n := len(before.latencies); n > 0 {
		errRatio = float64(before.errors) / float64(n)
	}
	for _, ch := range sloChecks(errRatio, p99(before.latencies), s.live) {
		ch.Name = "not held, up to SIGTERM: " + ch.Name
		sc.Checks = append(sc.Checks, ch)
	}
}

// timings fills the moments of the drain, as offsets from SIGTERM.
func (s *shutdownRun) timings(ss *summary.ShutdownStats) {
	ss.SigtermOffsetMs = s.live.Offset(s.sigtermAt)
	if !s.readyz.IsZero() {
		ss.ReadyzFlipMs = summary.Ms(s.readyz.Sub(s.sigtermAt))
	}
	if !s.closed.IsZero() {
		ss.ListenerClosedMs = summary.Ms(s.closed.Sub(s.sigtermAt))
	}
	if !s.exited.IsZero() {
		ss.DrainMs = summary.Ms(s.exited.Sub(s.sigtermAt))
	}
	if s.byCommand { // the harness never sees a process it did not start exit
		ss.SignalCmd, ss.ExitCode = true, -1
		return
	}
	// Exit code 3 is the server's forced drain (docs/contracts.md); a kill by the harness is
	// forced as well.
	ss.Forced = s.exitCode == 3 || s.killed
}

// steadyPart is what the counted requests that were not held, sent before SIGTERM, measured up
// to SIGTERM: the latency of one answered before it, the time one still in flight had waited by
// then. A backlog (requests queued for a pool slot) shows as waits past the SLO before SIGTERM,
// and the drain's own effect on the requests in flight (and the harness's probes, every 5 ms
// from SIGTERM on) is left to the drain checks.
type steadyPart struct {
	latencies []time.Duration // from the intended send time
	errors    int64
}

// classifyAll classifies every result (completed before/after SIGTERM, refused, lost), lists
// the lost ones on sc, and returns the acknowledged ids, the number of held requests cut and
// the steady part before SIGTERM.
func (s *shutdownRun) classifyAll(ss *summary.ShutdownStats, sc *summary.Scenario) (acked []int64, heldCut int64, before steadyPart) {
	queued := s.queuedFunc()
	if queued != nil {
		ss.AcceptQueueSeen = s.queue.seen()
	}
	for _, res := range s.results {
		vr := &vegeta.Result{Code: res.code, Timestamp: res.ts, Latency: res.latency, Error: res.err}
		class := classify(vr, s.sigtermAt, queued)
		ss.Classes[class]++
		if res.ts.Before(s.sigtermAt) && vr.End().After(s.sigtermAt) {
			ss.LongestInFlightMs = max(ss.LongestInFlightMs, summary.Ms(res.latency))
		}
		if res.counted && !res.delayed && res.sentAt.Before(s.sigtermAt) {
			before.latencies = append(before.latencies, min(res.intended, s.sigtermAt.Sub(res.sentAt)))
			if !attack.Success(vr) && vr.End().Before(s.sigtermAt) {
				before.errors++
			}
		}
		if res.id != 0 {
			acked = append(acked, res.id)
		}
		if class == AcceptQueueReset {
			ss.AcceptQueue = append(ss.AcceptQueue, summary.Request{OffsetMs: s.live.Offset(res.ts), Method: res.method, URL: res.url,
				LatencyMs: summary.Ms(res.latency), Error: res.err, Class: AcceptQueueReset, TraceID: res.traceID})
		}
		if class != Lost {
			continue
		}
		if res.delayed {
			heldCut++
		}
		sc.Lost = append(sc.Lost, summary.Request{
			OffsetMs: s.live.Offset(res.ts), Method: res.method, URL: res.url, Code: int(res.code),
			LatencyMs: summary.Ms(res.latency), Error: res.err, Class: Lost, TraceID: res.traceID,
		})
	}
	slices.SortFunc(sc.Lost, func(a, b summary.Request) int { return cmp.Compare(a.OffsetMs, b.OffsetMs) })
	ss.WritesAcked = int64(len(acked))
	return acked, heldCut, before
}

func (s *shutdownRun) lostCheck(ss *summary.ShutdownStats, lost []summary.Request, heldCut int64, latenessP99 float64) summary.Check {
	got := fmt.Sprint(ss.Classes[Lost])
	if n := ss.Classes[Lost]; n > 0 {
		first := lost[0]
		what := first.Error
		if what == "" {
			what = fmt.Sprintf("status %d", first.Code)
		}
		if s.queue != nil {
			if seen := s.queue.sighting(first.Error, s.sigtermAt); seen != "" {
				what += "; " + seen
			}
		}
		got = fmt.Sprintf("%d (%d held requests cut; first: sent %+.0fms from SIGTERM, failed after %.0fms: %s)",
			n, heldCut, first.OffsetMs-ss.SigtermOffsetMs, first.LatencyMs, what)
	}
	ch := check("accepted requests lost", ss.Classes[Lost] == 0, "0", got)
	if n := s.uncertainAtClose(latenessP99); n > 0 && int64(n) == ss.Classes[Lost] && s.queuedFunc() == nil {
		// Every loss is an EOF or reset at the listener's close, within the machine's own
		// scheduling delay of it: a connection reset in the listen backlog (never accepted)
		// cannot be told from a dropped request on a machine this slow. Not a PASS, not the
		// server's failure: INVALID.
		ch.Kind = summary.Validity
		ch.Got += fmt.Sprintf("; all %d failed within the generator's send lateness p99 (%.0f ms) of the listener's close, too slow a machine to tell a backlog reset from a drop", n, latenessP99)
	}
	return ch
}

// uncertainAtClose counts the lost results that failed near the listener's close within the
// measured scheduling delay (send lateness p99), when that delay is wider than closeWindow. It
// only matters where the accept queue could not be read: there a connection reset in it looks
// like a drop.
func (s *shutdownRun) uncertainAtClose(latenessP99 float64) int {
	w := time.Duration(latenessP99 * float64(time.Millisecond))
	if w <= closeWindow {
		return 0
	}
	n := 0
	for _, res := range s.results {
		vr := &vegeta.Result{Code: res.code, Timestamp: res.ts, Latency: res.latency, Error: res.err}
		if classify(vr, s.sigtermAt, nil) == Lost && nearClose(vr, s.closed, w) {
			n++
		}
	}
	return n
}

// persistCheck looks every acknowledged write up in PostgreSQL (checkWrites).
func (s *shutdownRun) persistCheck(ctx context.Context, ss *summary.ShutdownStats, acked []int64) summary.Check {
	ch, found, missing := checkWrites(ctx, s.live, acked)
	ss.WritesFound, ss.MissingIDs = found, missing
	return ch
}

// checkWrites looks every acknowledged write up in PostgreSQL: the 201 is a claim, the row is
// the fact. Without a database connection, or without a 201 to look up, it is not measured.
// found is −1 when the check is not available (no writes table), 0 when not measured.
func checkWrites(ctx context.Context, l *Live, acked []int64) (ch summary.Check, found int64, missing []int64) {
	const name, want = "acknowledged writes persisted", "every POST answered 201 found in PostgreSQL"
	switch {
	case l.WritesTable == "":
		return notAvailable(name, want, "give -writes-table, the table whose id a 201's JSON body names, and -database-url"), -1, nil
	case l.DB == nil:
		return notMeasured(name, want, "no database connection (-database-url)"), 0, nil
	case len(acked) == 0:
		return notMeasured(name, want, "no POST was answered 201"), 0, nil
	}
	ids, err := persisted(ctx, l.DB, l.WritesTable, acked)
	if err != nil {
		return notMeasured(name, want, err.Error()), 0, nil
	}
	missing = missingFrom(acked, ids)
	got := fmt.Sprintf("%d of %d", len(ids), len(acked))
	if n := len(missing); n > 0 {
		got += fmt.Sprintf("; missing ids %s", idList(missing, 10))
	}
	return check(name, len(missing) == 0, want, got), int64(len(ids)), missing
}

// The names of the drain checks.
const (
	cleanExitName = "clean exit"
	drainName     = "drain within the timeout"
)

// drainChecks: /readyz flipped before the listener closed, a clean exit, within the timeout.
func (s *shutdownRun) drainChecks(ss *summary.ShutdownStats) []summary.Check {
	const flipName, flipWant = "/readyz flipped before the listener closed", "readyz 503 ≤ listener closed"
	flip := ss.ReadyzFlipMs >= 0 && ss.ListenerClosedMs >= 0 && ss.ReadyzFlipMs <= ss.ListenerClosedMs
	flipCheck := check(flipName, flip, flipWant,
		fmt.Sprintf("readyz 503 at %s, listener closed at %s after SIGTERM", msOrNever(ss.ReadyzFlipMs), msOrNever(ss.ListenerClosedMs)))
	if s.live.Signals.ReadyURL == "" {
		flipCheck = notAvailable(flipName, flipWant, "expose a readiness endpoint (-ready-path) that answers 503 once draining")
	}
	// The server may take its drain delay plus its drain timeout, then closes the pool and
	// flushes telemetry: one second of margin for those.
	drainLimit := summary.Ms(s.live.Settings.Shutdown.DrainDelay + s.drain + time.Second)
	if s.byCommand {
		return []summary.Check{flipCheck, outOfReach(cleanExitName, "exit 0 (graceful drain)",
			"the harness did not start the server (-signal-cmd); a forced drain shows as held requests lost"),
			s.commandDrainCheck(ss, drainLimit)}
	}
	exitGot := fmt.Sprintf("exit %d after %.0fms", s.exitCode, ss.DrainMs)
	switch {
	case s.killed:
		exitGot = fmt.Sprintf("still running %s after SIGTERM: killed", s.killAfter())
	case s.exitCode == 3:
		exitGot = fmt.Sprintf("forced shutdown: exit 3 after %.0fms (Close after SHUTDOWN_TIMEOUT=%s cut the held requests)", ss.DrainMs, s.drain)
	}
	return []summary.Check{
		flipCheck,
		check(cleanExitName, s.exitCode == 0 && !s.killed, "exit 0 (graceful drain)", exitGot),
		check(drainName, ss.DrainMs >= 0 && ss.DrainMs <= drainLimit,
			fmt.Sprintf("≤ %.0fms (drain delay + SHUTDOWN_TIMEOUT + 1s)", drainLimit), msOrNever(ss.DrainMs)),
	}
}

// commandDrainCheck judges the drain of a server signalled by -signal-cmd by its admin
// listener, which the server closes last: its first refused connection is the end of the drain
// as a client sees it. -drain-delay and -drain-timeout say what the server is set to.
func (s *shutdownRun) commandDrainCheck(ss *summary.ShutdownStats, limit float64) summary.Check {
	want := fmt.Sprintf("≤ %.0fms (-drain-delay + -drain-timeout + 1s, until the admin listener closed)", limit)
	switch {
	case ss.DrainMs >= 0:
		return check(drainName, ss.DrainMs <= limit, want, fmt.Sprintf("admin listener closed %.0fms after the signal command started", ss.DrainMs))
	case s.stillDraining:
		return check(drainName, false, want, fmt.Sprintf("still draining %s after the signal command started: admin listener open, /readyz 503", s.killAfter()))
	}
	return notMeasured(drainName, want, fmt.Sprintf("the admin listener was still open %s after the signal command started and /readyz did not answer 503: "+
		"something in front of the server (a Service, a proxy) hides its exit; give -admin the server's own address", s.killAfter()))
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
