package scenario

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// The deploy strategies (-deploy-strategy): how the new server gets the port.
const (
	Restart   = "restart"   // SIGTERM the old, wait for its exit, then start the new: the gap every such script has
	ReusePort = "reuseport" // the new binds the same port beside the old (SO_REUSEPORT), is ready, then the old gets SIGTERM
	Handoff   = "handoff"   // the new inherits the old's listening socket (LISTEN_FDS), is ready, then the old gets SIGTERM
)

// Strategies lists the deploy strategies.
func Strategies() []string { return []string{Restart, ReusePort, Handoff} }

// instanceHeader names the process that answered (docs/contracts.md).
const instanceHeader = "X-Instance-Id"

// switchBucket is the width of the report's switch plot buckets.
const switchBucket = 100 * time.Millisecond

// maxFailedListed bounds the failed requests listed in the summary (all are counted).
const maxFailedListed = 500

// Deploy runs steady load with held requests (as Shutdown) and part-way replaces the server by a
// new process, by Settings.Deploy.Strategy. It passes when no request failed in any way, no gap
// between answers reached -max-gap, every acknowledged write is in PostgreSQL, the old process
// exited 0 within its drain, and the new one answered everything sent after the old had gone.
func Deploy() Scenario {
	return Scenario{
		Name:        "deploy",
		Description: "steady load + held requests; a new server takes over by -deploy-strategy: no failed request, no gap over -max-gap, the old drains cleanly",
		Signals:     true,
		ServerEnv: func(s Settings) []string {
			sh := s.Shutdown
			env := []string{"SHUTDOWN_TIMEOUT=" + sh.DrainTimeout.String(), "DRAIN_DELAY=" + sh.DrainDelay.String()}
			if s.Deploy.Strategy == ReusePort {
				env = append(env, "REUSEPORT=on")
			}
			return append(env, poolEnv(s, s.Rate*sh.HoldShare, sh.HoldDelay)...)
		},
		Listen: func(s Settings) bool { return s.Deploy.Strategy == Handoff },
		Step: func(s Settings) Step {
			// As in shutdown: only the server may end a held request.
			return Step{Rate: s.Rate, Duration: s.Shutdown.Duration, Warmup: s.Warmup,
				Timeout: s.Shutdown.HoldDelay + s.Shutdown.DrainTimeout + 5*time.Second}
		},
		Targets: func(s Settings) attack.TargetOptions {
			return attack.TargetOptions{DelayShare: s.Shutdown.HoldShare, Delay: s.Shutdown.HoldDelay}
		},
		Start: func(l *Live) Hooks {
			d := &deployRun{live: l, set: l.Settings.Deploy, exitCode: -1, migrate: -1}
			return Hooks{Observe: d.observe, Disturb: d.disturb, Check: d.check, Collect: d.collect}
		},
	}
}

// deployRun is what the deploy scenario records during one run. The results come from the
// engine's goroutine, the moments from the disturbance's: both are read after the attack.
type deployRun struct {
	live    *Live
	set     DeploySettings
	results []deployResult

	mu        sync.Mutex
	oldIDs    []string // the old server's instance ids (one process; a fleet behind a -signal-cmd)
	newIDs    []string
	switchAt  time.Time // the old told to go
	goneAt    time.Time // the old process exited (or the -signal-cmd ended)
	readyAt   time.Time // the new answered /readyz
	exitCode  int
	killed    bool
	byCommand bool
	migrate   int // tcp_migrate_req in effect during the switch (−1: unknown)
}

// deployResult is the part of a result the deploy checks need.
type deployResult struct {
	sent, end time.Time
	latency   time.Duration
	code      uint16
	class     string // error class, "" for an answer
	failed    bool   // no answer, or a 5xx
	instance  string
	method    string
	url       string
	err       string
	traceID   string
	id        int64 // created item id of a 201
}

func (d *deployRun) observe(h *attack.Hit) {
	res := h.Result
	r := deployResult{sent: res.Timestamp, end: res.End(), latency: res.Latency, code: res.Code, class: h.Class,
		failed: res.Code == 0 || res.Code >= 500, instance: res.Headers.Get(instanceHeader),
		method: res.Method, url: res.URL, err: res.Error}
	r.traceID, _ = attack.TraceOf(res)
	if id, ok := createdID(res); ok {
		r.id = id
	}
	d.results = append(d.results, r)
}

// disturb waits for the set time and replaces the server by the strategy.
func (d *deployRun) disturb(ctx context.Context) error {
	l := d.live
	old := l.Server
	if old.Process != nil {
		id, err := instanceOf(ctx, old.Admin())
		if err != nil {
			return fmt.Errorf("ask the old server its instance id: %w", err)
		}
		d.setIDs(&d.oldIDs, id)
	}
	if !sleep(ctx, time.Until(l.AttackStart().Add(l.Settings.Warmup+l.Settings.Shutdown.At))) {
		return nil
	}
	if old.Process == nil {
		return d.command(ctx)
	}
	if old.Successor == nil {
		return &SetupError{errors.New("deploy: the harness cannot start a successor of this server")}
	}
	switch d.set.Strategy {
	case Restart:
		d.stopOld(old.Process)
		_, err := d.successor(ctx, false)
		return err
	case ReusePort:
		restore, err := d.setMigrate()
		if err != nil {
			return &SetupError{err}
		}
		defer restore()
		if _, err := d.successor(ctx, false); err != nil {
			return err
		}
		d.stopOld(old.Process)
		return nil
	case Handoff:
		if old.Listener == nil {
			return &SetupError{errors.New("deploy handoff: the server was not started on a listener the harness keeps")}
		}
		_, err := d.successor(ctx, true)
		// The successor holds the socket now: the harness's copy goes, so that the socket
		// closes with the last server, as without a handover.
		_ = old.Listener.Close()
		if err != nil {
			return err
		}
		d.stopOld(old.Process)
		return nil
	}
	return &SetupError{fmt.Errorf("unknown deploy strategy %q", d.set.Strategy)}
}

// successor starts the new server (on the harness's listener when inherit) and waits until it
// is ready; the runner stops it when the scenario ends.
func (d *deployRun) successor(ctx context.Context, inherit bool) (Server, error) {
	l := d.live
	how := "binds " + strings.TrimPrefix(l.Server.API(), "http://")
	if inherit {
		how = "inherits the listener (LISTEN_FDS=1)"
	}
	l.Event(summary.EventSuccessor, how)
	ln := l.Server.Listener
	if !inherit {
		ln = nil
	}
	next, err := l.Server.Successor(context.WithoutCancel(ctx), ln)
	if err != nil {
		return Server{}, fmt.Errorf("start the new server: %w", err)
	}
	l.Adopt(next)
	now := time.Now()
	l.EventAt(summary.EventSuccessorReady, now, "")
	id, err := instanceOf(ctx, next.Admin())
	if err != nil {
		return next, fmt.Errorf("ask the new server its instance id: %w", err)
	}
	d.mu.Lock()
	d.readyAt = now
	d.mu.Unlock()
	d.setIDs(&d.newIDs, id)
	return next, nil
}

// stopOld sends the old server SIGTERM and waits for its exit, killing it past its drain.
func (d *deployRun) stopOld(p Process) {
	l := d.live
	l.ExpectExit()
	now := time.Now()
	err := p.Signal(syscall.SIGTERM)
	d.mu.Lock()
	d.switchAt = now
	d.mu.Unlock()
	l.Event(summary.EventSigterm, "old server")
	killed := false
	if err == nil {
		select {
		case <-p.Exited():
		case <-time.After(d.killAfter()):
			killed = true
		}
	}
	if killed || err != nil {
		_ = p.Stop(0)
	}
	d.mu.Lock()
	d.goneAt, d.exitCode, d.killed = p.ExitedAt(), p.ExitCode(), killed
	d.mu.Unlock()
	l.EventAt(summary.EventExit, p.ExitedAt(), fmt.Sprintf("old server: code %d", p.ExitCode()))
}

// command runs the -signal-cmd (a rolling update: `kubectl rollout restart ... && kubectl
// rollout status ...`) against a server the harness did not start. The old and the new
// instances are then told apart by the answers: before the command and after it.
func (d *deployRun) command(ctx context.Context) error {
	l := d.live
	if l.Server.Terminate == nil {
		return &SetupError{errors.New("the harness did not start this server and has no -signal-cmd to deploy it")}
	}
	now := time.Now()
	d.mu.Lock()
	d.switchAt, d.byCommand = now, true
	d.mu.Unlock()
	l.Event(summary.EventSigterm, "-signal-cmd")
	out, err := l.Server.Terminate(ctx)
	l.Event(summary.EventSignalCmd, commandDetail(out, err, time.Since(now)))
	if err != nil {
		return &SetupError{fmt.Errorf("-signal-cmd: %w", err)}
	}
	d.mu.Lock()
	d.goneAt = time.Now()
	d.mu.Unlock()
	return nil
}

func (d *deployRun) setIDs(ids *[]string, id string) {
	d.mu.Lock()
	*ids = append(*ids, id)
	d.mu.Unlock()
}

func (d *deployRun) killAfter() time.Duration {
	return d.live.Settings.Shutdown.DrainDelay + d.live.Settings.Shutdown.DrainTimeout + 5*time.Second
}

// drainLimit is how long the old server may take from SIGTERM to its exit: its drain delay and
// drain timeout, and one second for the pool and telemetry teardown.
func (d *deployRun) drainLimit() time.Duration {
	return d.live.Settings.Shutdown.DrainDelay + d.live.Settings.Shutdown.DrainTimeout + time.Second
}

// migrateReqPath is the sysctl that lets the kernel move the connections queued on a closing
// SO_REUSEPORT listener to another one of its group (Linux ≥ 5.14).
const migrateReqPath = "/proc/sys/net/ipv4/tcp_migrate_req"

// setMigrate sets tcp_migrate_req for a reuseport switch as asked, and returns what puts it back.
// It is per network namespace: the harness's, which its servers share.
func (d *deployRun) setMigrate() (restore func(), err error) {
	cur, readErr := os.ReadFile(migrateReqPath)
	prev, convErr := strconv.Atoi(strings.TrimSpace(string(cur)))
	if readErr != nil || convErr != nil {
		prev = -1
	}
	d.mu.Lock()
	d.migrate = prev
	d.mu.Unlock()
	if d.set.MigrateReq < 0 || d.set.MigrateReq == prev {
		return func() {}, nil
	}
	if readErr != nil {
		return nil, fmt.Errorf("deploy reuseport: read %s: %w", migrateReqPath, readErr)
	}
	if err := os.WriteFile(migrateReqPath, []byte(strconv.Itoa(d.set.MigrateReq)), 0o644); err != nil {
		return nil, fmt.Errorf("deploy reuseport: set %s to %d (root, or a network namespace of its own): %w", migrateReqPath, d.set.MigrateReq, err)
	}
	d.mu.Lock()
	d.migrate = d.set.MigrateReq
	d.mu.Unlock()
	return func() { _ = os.WriteFile(migrateReqPath, []byte(strconv.Itoa(prev)), 0o644) }, nil
}

// instanceOf asks a server's admin listener which process it is (its X-Instance-Id).
func instanceOf(ctx context.Context, admin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/healthz", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get(instanceHeader)
	if id == "" {
		return "", fmt.Errorf("%s/healthz has no %s header", admin, instanceHeader)
	}
	return id, nil
}

// The names of the deploy checks.
const (
	deployFailedName = "failed requests"
	deployGapName    = "longest gap between answers"
	deployNewName    = "new server served from the switch on"
)

func (d *deployRun) check(ctx context.Context, sc *summary.Scenario) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.live
	ds := &summary.DeployStats{Strategy: d.set.Strategy, MigrateReq: d.migrate, SuccessorReadyMs: -1, OldDrainMs: -1,
		OldExitCode: d.exitCode, OldKilled: d.killed, MaxGapMs: summary.Ms(d.set.MaxGap),
		DrainLimitMs: summary.Ms(d.drainLimit()), Failures: map[string]int64{}, SwitchBucketMs: summary.Ms(switchBucket),
		AcceptQueue: []summary.AcceptQueueSample{}}
	if d.byCommand {
		ds.Strategy, ds.OldExitCode = "signal-cmd", -1
	}
	sc.Deploy = ds
	if d.switchAt.IsZero() {
		sc.Checks = append(sc.Checks, check("deploy started", false, "the old server told to go during the attack",
			"never (the attack ended first, or the new server did not start)"))
		return
	}
	ds.SwitchOffsetMs = l.Offset(d.switchAt)
	if !d.readyAt.IsZero() {
		ds.SuccessorReadyMs = l.Offset(d.readyAt)
	}
	if !d.goneAt.IsZero() && !d.byCommand {
		ds.OldDrainMs = summary.Ms(d.goneAt.Sub(d.switchAt))
	}
	if d.byCommand {
		d.idsFromAnswers()
	}
	acked := d.tally(ds)
	ch, found, missing := checkWrites(ctx, l, acked)
	ds.WritesAcked, ds.WritesFound, ds.MissingIDs = int64(len(acked)), found, missing
	sc.Checks = append(sc.Checks, d.failedCheck(ds), d.gapCheck(ds), ch, d.drainCheck(ds), d.newCheck(ds))
}

// idsFromAnswers tells the old from the new instances behind a -signal-cmd: old answered
// before the switch, new only after it.
func (d *deployRun) idsFromAnswers() {
	for _, r := range d.results {
		if r.instance == "" || r.failed {
			continue
		}
		switch {
		case r.end.Before(d.switchAt):
			if !slices.Contains(d.oldIDs, r.instance) {
				d.oldIDs = append(d.oldIDs, r.instance)
			}
		case !slices.Contains(d.oldIDs, r.instance) && !slices.Contains(d.newIDs, r.instance):
			d.newIDs = append(d.newIDs, r.instance)
		}
	}
}

func (d *deployRun) role(id string) string {
	switch {
	case slices.Contains(d.oldIDs, id):
		return "old"
	case slices.Contains(d.newIDs, id):
		return "new"
	}
	return "unknown"
}

// tally fills the instances, the failures and the switch buckets, and returns the acknowledged
// write ids.
func (d *deployRun) tally(ds *summary.DeployStats) (acked []int64) {
	l := d.live
	byID := map[string]*summary.DeployInstance{}
	buckets := map[int]*summary.SwitchBucket{}
	for _, r := range d.results {
		end := l.Offset(r.end)
		b := int(end / ds.SwitchBucketMs)
		if buckets[b] == nil {
			buckets[b] = &summary.SwitchBucket{OffsetMs: float64(b) * ds.SwitchBucketMs}
		}
		if r.id != 0 {
			acked = append(acked, r.id)
		}
		if r.failed {
			buckets[b].Failed++
			ds.Failures[r.class]++
			if len(ds.Failed) < maxFailedListed {
				ds.Failed = append(ds.Failed, summary.Request{OffsetMs: l.Offset(r.sent), Method: r.method, URL: r.url,
					Code: int(r.code), LatencyMs: summary.Ms(r.latency), Error: r.err, Class: r.class, TraceID: r.traceID})
			}
			continue
		}
		switch d.role(r.instance) {
		case "old":
			buckets[b].Old++
		case "new":
			buckets[b].New++
		default:
			buckets[b].Other++
		}
		in := byID[r.instance]
		if in == nil {
			in = &summary.DeployInstance{ID: r.instance, Role: d.role(r.instance), FirstAnswerMs: end, LastAnswerMs: end}
			byID[r.instance] = in
		}
		in.Answers++
		in.FirstAnswerMs, in.LastAnswerMs = min(in.FirstAnswerMs, end), max(in.LastAnswerMs, end)
	}
	for _, in := range byID {
		ds.Instances = append(ds.Instances, *in)
	}
	rank := map[string]int{"old": 0, "new": 1, "unknown": 2}
	slices.SortFunc(ds.Instances, func(a, b summary.DeployInstance) int {
		return cmp.Or(cmp.Compare(rank[a.Role], rank[b.Role]), cmp.Compare(a.FirstAnswerMs, b.FirstAnswerMs))
	})
	for _, b := range buckets {
		ds.Switch = append(ds.Switch, *b)
	}
	slices.SortFunc(ds.Switch, func(a, b summary.SwitchBucket) int { return cmp.Compare(a.OffsetMs, b.OffsetMs) })
	slices.SortFunc(ds.Failed, func(a, b summary.Request) int { return cmp.Compare(a.OffsetMs, b.OffsetMs) })
	return acked
}

func (d *deployRun) failedCheck(ds *summary.DeployStats) summary.Check {
	var n int64
	classes := make([]string, 0, len(ds.Failures))
	for c, k := range ds.Failures {
		n += k
		classes = append(classes, c)
	}
	got := "0"
	if n > 0 {
		slices.Sort(classes)
		parts := make([]string, len(classes))
		for i, c := range classes {
			parts[i] = fmt.Sprintf("%s %d", c, ds.Failures[c])
		}
		first := ds.Failed[0]
		what := first.Error
		if what == "" {
			what = fmt.Sprintf("status %d", first.Code)
		}
		got = fmt.Sprintf("%d (%s); first sent %+.0fms from the switch: %s %s: %s",
			n, strings.Join(parts, ", "), first.OffsetMs-ds.SwitchOffsetMs, first.Method, first.URL, what)
	}
	return check(deployFailedName, n == 0, "0 of any kind (refused, reset, EOF, timeout, 5xx)", got)
}

// gapCheck finds the longest time between two answers (by their ends) while requests were
// being sent: from the first answer to the last request's send. A server that stopped
// answering for good shows as a gap to that end; the quiet after the last send (only held
// requests still out) is no gap.
func (d *deployRun) gapCheck(ds *summary.DeployStats) summary.Check {
	var ends []time.Time
	var lastSent time.Time
	for _, r := range d.results {
		if r.sent.After(lastSent) {
			lastSent = r.sent
		}
		if !r.failed {
			ends = append(ends, r.end)
		}
	}
	want := fmt.Sprintf("< %s (-max-gap)", d.set.MaxGap)
	if len(ends) == 0 {
		return check(deployGapName, false, want, "no request was answered")
	}
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	ends = append(ends, lastSent)
	var gap time.Duration
	from := ends[0]
	for i := 1; i < len(ends) && ends[i-1].Before(lastSent); i++ {
		end := ends[i]
		if end.After(lastSent) {
			end = lastSent
		}
		if g := end.Sub(ends[i-1]); g > gap {
			gap, from = g, ends[i-1]
		}
	}
	ds.GapMs, ds.GapStartMs = summary.Ms(gap), d.live.Offset(from)
	return check(deployGapName, gap < d.set.MaxGap, want,
		fmt.Sprintf("%.0fms, from %+.0fms of the switch", ds.GapMs, ds.GapStartMs-ds.SwitchOffsetMs))
}

func (d *deployRun) drainCheck(ds *summary.DeployStats) summary.Check {
	const name, want = "old server exited cleanly within its drain", "exit 0 within DRAIN_DELAY + SHUTDOWN_TIMEOUT + 1s"
	if d.byCommand {
		return outOfReach(name, want, "the harness did not start the server (-signal-cmd); a forced drain shows as failed requests")
	}
	got := fmt.Sprintf("exit %d after %.0fms (limit %.0fms)", d.exitCode, ds.OldDrainMs, ds.DrainLimitMs)
	switch {
	case d.killed:
		got = fmt.Sprintf("still running %s after SIGTERM: killed", d.killAfter())
	case d.exitCode == 3:
		got = fmt.Sprintf("forced shutdown: exit 3 after %.0fms (Close after SHUTDOWN_TIMEOUT cut its requests)", ds.OldDrainMs)
	case d.exitCode < 0:
		got = fmt.Sprintf("killed by a signal after %.0fms", ds.OldDrainMs)
	}
	return check(name, d.exitCode == 0 && !d.killed && ds.OldDrainMs >= 0 && ds.OldDrainMs <= ds.DrainLimitMs, want, got)
}

// newCheck: the new server answered, and every request sent once the old had gone was answered
// by it. Behind a -signal-cmd, old instances may finish their drain after the command ends: the
// requests judged are those sent past the drain limit after it.
func (d *deployRun) newCheck(ds *summary.DeployStats) summary.Check {
	const want = "every request sent after the old server exited answered by the new one"
	if len(d.newIDs) == 0 {
		return check(deployNewName, false, want, "no new server answered")
	}
	from := d.goneAt
	if d.byCommand {
		from = from.Add(d.drainLimit())
	}
	var byNew, other int64
	var firstOther string
	for _, r := range d.results {
		if r.failed || from.IsZero() || r.sent.Before(from) {
			continue
		}
		if slices.Contains(d.newIDs, r.instance) {
			byNew++
			continue
		}
		other++
		if firstOther == "" {
			firstOther = fmt.Sprintf("; first sent %+.0fms from the switch, answered by %q (%s)",
				d.live.Offset(r.sent)-ds.SwitchOffsetMs, r.instance, d.role(r.instance))
		}
	}
	news := 0
	for _, in := range ds.Instances {
		if in.Role == "new" {
			news++
		}
	}
	got := fmt.Sprintf("%d answered by the new server, %d by another%s", byNew, other, firstOther)
	if news == 0 {
		return check(deployNewName, false, want, "the new server answered no request")
	}
	return check(deployNewName, other == 0 && byNew > 0, want, got)
}
