package scenario

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/items"
	"github.com/benchharness/benchharness/loadtest/internal/promexport"
	"github.com/benchharness/benchharness/loadtest/internal/sampler"
	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
	"github.com/benchharness/benchharness/loadtest/internal/summary"

	"github.com/google/pprof/profile"
)

// The harness tests run one- to three-second scenarios against the real items server (built
// here with go build) and the PostgreSQL of TEST_DATABASE_URL. Every verdict is shown failing
// on a server with a fault switched on, and passing on the healthy one.

var (
	buildOnce sync.Once
	serverBin string
	buildErr  error
)

func database(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_DATABASE_URL is not set (CI=true): the harness tests need PostgreSQL")
		}
		t.Skip("TEST_DATABASE_URL is not set")
	}
	return dsn
}

// server builds the items server once per test binary.
func server(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "loadtest-scenario-")
		if err != nil {
			buildErr = err
			return
		}
		serverBin = filepath.Join(dir, "server")
		out, err := exec.Command("go", "build", "-o", serverBin, "github.com/benchharness/benchharness/server").CombinedOutput()
		if err != nil {
			buildErr = err
			serverBin = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build server: %v\n%s", buildErr, serverBin)
	}
	return serverBin
}

// harness is a runner on the real server with the given extra server environment; it records
// every process it started.
type harness struct {
	mu      sync.Mutex
	started []*serverctl.Local
	runner  *Runner
	metrics *promexport.Metrics
}

func newHarness(t *testing.T, set Settings, extraEnv ...string) *harness {
	t.Helper()
	dsn := database(t)
	bin := server(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "loadtest"
	db, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	h := &harness{}
	h.metrics = promexport.New()
	// The items server through its profile, as loadtest run gives it.
	if set.Targets == nil {
		var err error
		if set.Targets, set.HeldTargets, err = items.Targets(); err != nil {
			t.Fatal(err)
		}
	}
	seed := func(ctx context.Context, api, token string) error { return items.Seed(ctx, api, token, 20) }
	h.runner = &Runner{Settings: set, Managed: true, DB: db, Dir: t.TempDir(), Seed: seed, Observer: metricsObserver{h.metrics}, WritesTable: items.WritesTable,
		Launch: func(ctx context.Context, spec LaunchSpec) (Server, error) {
			var err error
			cfg := serverctl.Config{Bin: bin, DatabaseURL: dsn,
				Env: append(append([]string{"BENCH_DELAY=on"}, extraEnv...), spec.Env...)}
			if spec.Listen {
				if cfg.Listener, err = serverctl.Listen("127.0.0.1"); err != nil {
					return Server{}, err
				}
			}
			l, err := serverctl.Start(ctx, cfg)
			if err != nil {
				if cfg.Listener != nil {
					cfg.Listener.Close()
				}
				return Server{}, err
			}
			h.add(l)
			tok, err := l.Token(ctx, "test")
			srv := Server{Target: l, Process: l, Token: tok, Listener: cfg.Listener}
			srv.Successor = func(ctx context.Context, ln *net.TCPListener) (Server, error) {
				n, err := l.Successor(ctx, ln)
				if err != nil {
					return Server{}, err
				}
				h.add(n)
				return Server{Target: n, Process: n, Token: tok}, nil
			}
			return srv, err
		}}
	t.Cleanup(func() {
		for _, l := range h.started {
			_ = l.Stop(time.Second)
		}
	})
	return h
}

func (h *harness) add(l *serverctl.Local) {
	h.mu.Lock()
	h.started = append(h.started, l)
	h.mu.Unlock()
}

func (h *harness) run(t *testing.T, ctx context.Context, names ...string) []summary.Scenario {
	t.Helper()
	scs, err := Select(names)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := h.runner.RunAll(ctx, scs)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(out) != len(scs) {
		t.Fatalf("Run returned %d summaries for %d scenarios", len(out), len(scs))
	}
	// Whatever happened, no server process may outlive its scenario.
	for _, l := range h.started {
		select {
		case <-l.Exited():
		default:
			t.Errorf("server pid %d still running after Run", l.PID())
		}
	}
	return out
}

// short are settings for 1–3 s scenarios. The SLO is generous: the test machine is shared, and
// the verdict under test is the failing one's, shown with its own setting.
func short() Settings {
	return Settings{
		Rate: 50, Duration: 2 * time.Second, Warmup: 500 * time.Millisecond, Timeout: 5 * time.Second,
		SLOP99: time.Second, MaxErrorRate: 0.05, SlowestN: 5,
		// A shared test machine delays sends by more than a dedicated bench's 50 ms; the
		// INVALID case sets its own bound.
		MaxLateness: 500 * time.Millisecond,
		Settle:      time.Second, GoroutineSlack: 5, SampleEvery: 100 * time.Millisecond, CPUProfile: time.Second,
		ServerEvery: sampler.DefaultServerEvery, // a run's: the checks must hold at its server reads
		Cancel:      CancelSettings{Share: 0.05, Delay: 3 * time.Second, Timeout: 200 * time.Millisecond, MaxCleanup: time.Second},
		Shutdown: ShutdownSettings{Duration: 3 * time.Second, At: time.Second, HoldShare: 0.1, HoldDelay: time.Second,
			DrainTimeout: 5 * time.Second, DrainDelay: 200 * time.Millisecond, ShortDrainTimeout: 100 * time.Millisecond},
		Ramp: RampSettings{From: 20, To: 60, Steps: 2, Step: time.Second},
	}
}

// eventAt is the offset of sc's first event named name.
func eventAt(sc summary.Scenario, name string) (float64, bool) {
	for _, e := range sc.Events {
		if e.Name == name {
			return e.OffsetMs, true
		}
	}
	return 0, false
}

func reasons(sc summary.Scenario) string { return strings.Join(sc.Reasons, "; ") }

func TestHealthyServerPasses(t *testing.T) {
	h := newHarness(t, short())
	out := h.run(t, context.Background(), "steady", "cancel", "shutdown", "ramp")
	for _, sc := range out {
		if generatorOnly(sc) {
			// The test machine is shared; a generator starved of CPU is INVALID, which says
			// nothing about the server. Any failed check of the server's own still fails here.
			t.Logf("%s INVALID on a busy machine: %s", sc.Name, reasons(sc))
			continue
		}
		if sc.Verdict != summary.Pass {
			t.Errorf("%s on a healthy server: %s (%s); codes %v, errors %v", sc.Name, sc.Verdict, reasons(sc), sc.StatusCodes, sc.ErrorClasses)
		}
		if len(sc.Diagnosis) != 0 {
			t.Errorf("%s on a healthy server: diagnosis %v, want none", sc.Name, sc.Diagnosis)
		}
	}
	steady, cancel, shutdown, ramp := out[0], out[1], out[2], out[3]
	if len(steady.Profiles) != 5 {
		t.Errorf("steady profiles = %+v, want 5", steady.Profiles)
	}
	// At this test's low rate the server is nearly idle, and a 1 s CPU profile at 100 Hz may
	// hold no sample at all; when it holds some, the report must list the top functions.
	if n := cpuSamples(t, filepath.Join(h.runner.Dir, "steady.cpu.pprof")); n > 0 && len(steady.TopCPU) == 0 {
		t.Errorf("steady CPU profile has %d samples but the top list is empty", n)
	}
	for _, p := range steady.Profiles {
		if _, err := os.Stat(filepath.Join(h.runner.Dir, p.File)); err != nil {
			t.Error(err)
		}
	}
	// Writing the profiles pauses the server: they are taken after the warm-up and done before
	// the counted requests begin.
	if start, ok := eventAt(steady, summary.EventStart); !ok || steady.Profiled == nil ||
		steady.Profiled.StartMs < start+summary.Ms(short().Warmup) || steady.Profiled.EndMs > start+steady.WarmupMs {
		t.Errorf("steady profiled %+v; attack from %.0f ms, warm-up %.0f ms, counted from %.0f ms: want the profiles between",
			steady.Profiled, start, summary.Ms(short().Warmup), start+steady.WarmupMs)
	}
	if len(steady.Timeline) < 10 || steady.Server.GoroutinesPeak <= 0 {
		t.Errorf("steady timeline has %d samples, goroutine peak %v", len(steady.Timeline), steady.Server.GoroutinesPeak)
	}
	if c := cancel.Cancel; c == nil || c.CancelsSent == 0 || c.CancelsSeen == 0 || c.StillRunning != 0 {
		t.Errorf("cancel stats = %+v, want cancels sent and seen, none still running", c)
	}
	s := shutdown.Shutdown
	if s == nil || s.ExitCode != 0 || s.WritesAcked == 0 || s.WritesFound != s.WritesAcked || s.Classes[Lost] != 0 ||
		s.Classes[CompletedAfter] == 0 || s.ReadyzFlipMs < 0 || s.ListenerClosedMs < s.ReadyzFlipMs {
		t.Errorf("shutdown stats = %+v", s)
	}
	if !hasEvents(shutdown, summary.EventStart, summary.EventSigterm, summary.EventReadyz503, summary.EventListenerClosed, summary.EventExit, summary.EventEnd) {
		t.Errorf("shutdown events = %+v", shutdown.Events)
	}
	if ramp.Ramp == nil || len(ramp.Ramp.Steps) != 2 || (ramp.Ramp.CapacityRate <= 0 && !generatorOnly(ramp)) {
		t.Errorf("ramp = %+v, want 2 steps and a capacity", ramp.Ramp)
	}
	for _, sc := range out {
		onOneClock(t, sc)
		if sc.Server.PoolMaxConns < defaultPool {
			t.Errorf("%s: pool of %v connections, want at least the default %d", sc.Name, sc.Server.PoolMaxConns, defaultPool)
		}
		for _, ev := range []string{summary.EventStart, summary.EventEnd} {
			if got := gathered(t, h.metrics, "loadtest_events_total", sc.Name, ev); got != 1 {
				t.Errorf("%s: loadtest_events_total{event=%q} = %v, want 1", sc.Name, ev, got)
			}
		}
	}
}

// onOneClock: every offset of a scenario counts from one origin, so its latency windows and
// slowest requests lie between its start and end events (a window indexed from the counted
// start, not the scenario's, ended seconds before the end marker in the plots).
func onOneClock(t *testing.T, sc summary.Scenario) {
	t.Helper()
	var start, end float64 = -1, -1
	for _, e := range sc.Events {
		switch e.Name {
		case summary.EventStart:
			start = e.OffsetMs
		case summary.EventEnd:
			end = e.OffsetMs
		}
	}
	if start < 0 || end < 0 || len(sc.Windows) == 0 {
		t.Errorf("%s: start %v, end %v, %d windows", sc.Name, start, end, len(sc.Windows))
		return
	}
	first, last := sc.Windows[0], sc.Windows[len(sc.Windows)-1]
	// The last window is filled by hits due up to its end; the end event comes after their
	// answers, so within a second of the window's end at most.
	if first.StartMs < start || last.StartMs+1000 > end+50 || last.StartMs+1000 < end-1500 {
		t.Errorf("%s: windows %.0f..%.0f ms, events start %.0f end %.0f: not on one clock", sc.Name, first.StartMs, last.StartMs+1000, start, end)
	}
	for _, r := range sc.Slowest {
		if r.OffsetMs < start || r.OffsetMs > end {
			t.Errorf("%s: slowest request sent at %.0f ms, outside start %.0f .. end %.0f", sc.Name, r.OffsetMs, start, end)
		}
	}
}

// gathered returns the value of the series of name with the given scenario and event labels.
func gathered(t *testing.T, m *promexport.Metrics, name, scenario, event string) float64 {
	t.Helper()
	v, _ := m.Value(name, map[string]string{"scenario": scenario, "event": event})
	return v
}

// generatorOnly reports whether sc is INVALID with every failed check a validity check.
func generatorOnly(sc summary.Scenario) bool {
	if sc.Verdict != summary.Invalid {
		return false
	}
	for _, c := range sc.Checks {
		// A missed objective beside a starved generator is explained by it (latency from the
		// intended send time includes the generator's lateness); a correctness failure never is.
		if !c.Pass && c.Kind == summary.Correctness {
			return false
		}
	}
	return true
}

func hasEvents(sc summary.Scenario, names ...string) bool {
	seen := map[string]bool{}
	for _, e := range sc.Events {
		seen[e.Name] = true
	}
	for _, n := range names {
		if !seen[n] {
			return false
		}
	}
	return true
}

// TestVerdictsFail shows each check failing for the reason it exists.
func TestVerdictsFail(t *testing.T) {
	tests := []struct {
		name     string
		scenario string
		env      []string
		settings func(*Settings)
		verdict  summary.Verdict
		reason   string // a failed check's name the reasons must contain
		cause    string // a cause the diagnosis must name ("": not checked here, see TestFaultMatrix)
	}{
		{name: "leaked goroutines", scenario: "cancel", env: []string{"BENCH_FAULTS=leak-goroutine"},
			verdict: summary.Fail, reason: "goroutines back at baseline", cause: summary.CauseLeak},
		{name: "a leak beside a generator that fell behind", scenario: "cancel", env: []string{"BENCH_FAULTS=leak-goroutine"},
			settings: func(s *Settings) { s.MaxLateness = time.Nanosecond }, // INVALID generator: the leak must outlast the extra settle
			verdict:  summary.Fail, reason: "goroutines back at baseline"},
		{name: "ignored cancellation", scenario: "cancel", env: []string{"BENCH_FAULTS=ignore-cancel"},
			verdict: summary.Fail, reason: "cancelled queries still in PostgreSQL"},
		{name: "dropped writes", scenario: "shutdown", env: []string{"BENCH_FAULTS=drop-writes"},
			verdict: summary.Fail, reason: "acknowledged writes persisted"},
		{name: "drain timeout shorter than held requests", scenario: "shutdown-short-drain",
			verdict: summary.Fail, reason: "forced shutdown: exit 3"},
		{name: "SLO below real latency", scenario: "steady",
			settings: func(s *Settings) { s.SLOP99 = time.Microsecond }, verdict: summary.Fail, reason: "p99 latency"},
		{name: "capacity below the floor", scenario: "ramp",
			settings: func(s *Settings) { s.Ramp.MinCapacity = 1e6 }, verdict: summary.Fail, reason: "capacity within the SLO"},
		{name: "a starved pool fails cancel", scenario: "cancel",
			settings: func(s *Settings) {
				s.Pool, s.Cancel.Timeout, s.Cancel.Share, s.SLOP99 = 1, time.Second, 0.2, 200*time.Millisecond
			},
			verdict: summary.Fail, reason: "pool was exhausted", cause: summary.CausePool},
		{name: "a starved pool fails shutdown", scenario: "shutdown",
			settings: func(s *Settings) { s.Pool, s.SLOP99 = 1, 200*time.Millisecond },
			verdict:  summary.Fail, reason: "pool was exhausted"},
		{name: "rate the generator cannot reach", scenario: "steady",
			settings: func(s *Settings) {
				s.Rate, s.Duration, s.Warmup, s.Timeout = 20000, time.Second, 0, 2*time.Second
				s.MaxLateness = 50 * time.Millisecond
			},
			verdict: summary.Invalid, reason: "generator", cause: summary.CauseGenerator},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := short()
			if tt.settings != nil {
				tt.settings(&set)
			}
			out := newHarness(t, set, tt.env...).run(t, context.Background(), tt.scenario)
			sc := out[0]
			if sc.Verdict != tt.verdict || !strings.Contains(reasons(sc), tt.reason) {
				t.Fatalf("%s: verdict %s (%s); want %s with %q", tt.scenario, sc.Verdict, reasons(sc), tt.verdict, tt.reason)
			}
			if len(sc.Diagnosis) == 0 || (tt.cause != "" && !slices.Contains(causeNames(sc), tt.cause)) {
				t.Fatalf("%s: diagnosis %v; want one naming %q", tt.scenario, sc.Diagnosis, tt.cause)
			}
			t.Logf("%s: %s", sc.Verdict, reasons(sc))
		})
	}
}

func TestShortDrainReportsCutRequests(t *testing.T) {
	out := newHarness(t, short()).run(t, context.Background(), "shutdown-short-drain")
	s := out[0].Shutdown
	if s == nil || !s.Forced || s.ExitCode != 3 || s.Classes[Lost] == 0 || len(out[0].Lost) == 0 {
		t.Fatalf("short drain: %+v lost=%d; want forced, exit 3 and the cut requests listed", s, len(out[0].Lost))
	}
	if !strings.Contains(reasons(out[0]), "accepted requests lost") {
		t.Errorf("reasons %q do not name the lost requests", reasons(out[0]))
	}
	// The server's own count agrees: the held requests it accepted and cut were never answered.
	if !strings.Contains(reasons(out[0]), acceptedName) {
		t.Errorf("reasons %q: the accepted count did not fail", reasons(out[0]))
	}
}

// TestCrashFailsAndSkipsTheRest kills the server with SIGKILL mid-steady: steady FAILS with the
// crash as its reason, cancel is SKIPPED.
func TestCrashFailsAndSkipsTheRest(t *testing.T) {
	set := short()
	set.Duration = 3 * time.Second
	h := newHarness(t, set)
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			h.mu.Lock()
			n := len(h.started)
			var pid int
			if n > 0 {
				pid = h.started[0].PID()
			}
			h.mu.Unlock()
			if n > 0 {
				time.Sleep(1500 * time.Millisecond) // inside the attack
				_ = syscall.Kill(pid, syscall.SIGKILL)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	out := h.run(t, context.Background(), "steady", "cancel")
	if out[0].Verdict != summary.Fail || !strings.Contains(reasons(out[0]), "server exited unexpectedly") || !hasEvents(out[0], summary.EventCrash) {
		t.Errorf("steady after a crash: %s (%s), events %+v", out[0].Verdict, reasons(out[0]), out[0].Events)
	}
	if out[1].Verdict != summary.Skipped || !strings.Contains(reasons(out[1]), "crashed in steady") {
		t.Errorf("cancel after the crash: %s (%s), want SKIPPED", out[1].Verdict, reasons(out[1]))
	}
}

// TestStartFailureSaysWhy: a server that exits before it is ready fails the scenario with its
// own last words in the reason, not only "exited with code 2".
func TestStartFailureSaysWhy(t *testing.T) {
	h := newHarness(t, short(), "READ_TIMEOUT=soon")
	scs, err := Select([]string{"steady"})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := h.runner.RunAll(context.Background(), scs)
	if err == nil || len(out) != 1 || out[0].Verdict != summary.Fail ||
		!strings.Contains(reasons(out[0]), "exited with code 2") || !strings.Contains(reasons(out[0]), "READ_TIMEOUT") {
		t.Fatalf("RunAll = %v; scenarios %+v; want FAIL naming the exit code and READ_TIMEOUT", err, out)
	}
}

// TestInterruptKeepsResults cancels the context mid-attack: the scenario is INTERRUPTED with
// the requests so far, later ones are SKIPPED, and no server is left running (checked by run).
func TestInterruptKeepsResults(t *testing.T) {
	set := short()
	set.Duration = 5 * time.Second
	h := newHarness(t, set)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(set.Warmup+profileLead(set)+2500*time.Millisecond, cancel) // among the counted requests
	out := h.run(t, ctx, "steady", "cancel")
	if out[0].Verdict != summary.Interrupted || out[0].Requests == 0 {
		t.Errorf("steady: %s with %d requests; want INTERRUPTED with the requests so far", out[0].Verdict, out[0].Requests)
	}
	if out[1].Verdict != summary.Skipped {
		t.Errorf("cancel: %s, want SKIPPED", out[1].Verdict)
	}
}

func TestSelect(t *testing.T) {
	def, err := Select(nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range def {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "steady,cancel,shutdown,ramp" {
		t.Errorf("default set = %s", got)
	}
	if _, err := Select([]string{"steady", "nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Select(nope) = %v, want an error naming it", err)
	}
	one, err := Select([]string{"shutdown-short-drain"})
	if err != nil || len(one) != 1 || one[0].Name != "shutdown-short-drain" {
		t.Errorf("Select(shutdown-short-drain) = %v, %v", one, err)
	}
}

func TestExternalSkipsSignals(t *testing.T) {
	scs, _ := Select([]string{"shutdown"})
	rn := &Runner{Managed: false, Launch: func(context.Context, LaunchSpec) (Server, error) {
		t.Fatal("launched a server for a scenario that must be skipped")
		return Server{}, nil
	}}
	out, _, err := rn.RunAll(context.Background(), scs)
	if err != nil || out[0].Verdict != summary.Skipped || !strings.Contains(reasons(out[0]), "cannot send signals") {
		t.Fatalf("shutdown against an external target: %+v, %v", out, err)
	}
}

// TestNoDatabaseIsNotMeasured: against a target without the harness's own database connection,
// cancel cannot see pg_stat_activity. That is "not measured" (INVALID), never a PASS on a nil
// database read as "0 queries still running".
func TestNoDatabaseIsNotMeasured(t *testing.T) {
	h := newHarness(t, short())
	h.runner.DB = nil
	out := h.run(t, context.Background(), "cancel")
	if out[0].Verdict == summary.Pass || !strings.Contains(reasons(out[0]), "not measured: no database connection") {
		t.Fatalf("cancel without a database: %s (%s); want not measured", out[0].Verdict, reasons(out[0]))
	}
}

// cpuSamples is the number of samples in a captured CPU profile.
func cpuSamples(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open CPU profile: %v", err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("parse CPU profile %s: %v", path, err)
	}
	return len(p.Sample)
}

// metricsObserver exports the runs' progress to the harness's metrics, as loadtest run wires it.
type metricsObserver struct{ m *promexport.Metrics }

func (o metricsObserver) Running(name string, running bool) { o.m.Running(name, running) }
func (o metricsObserver) Event(name, event string)          { o.m.Event(name, event) }
func (o metricsObserver) Step(name string, st Step) ([]attack.Consumer, func(float64)) {
	o.m.SetTargetRate(name, st.Rate)
	return []attack.Consumer{attack.ConsumerFunc(func(h *attack.Hit) { o.m.Result(name, h.Code, h.Class, h.Latency) })}, nil
}
