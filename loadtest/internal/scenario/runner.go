package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/progress"
	"github.com/benchharness/benchharness/loadtest/internal/promexport"
	"github.com/benchharness/benchharness/loadtest/internal/sampler"
	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Server is the server a scenario loads: a process the harness started or an external target.
// It is the harness's one seam between "we own the process" and "we only reach it over HTTP".
type Server interface {
	API() string   // public base URL
	Admin() string // admin base URL (/metrics, /readyz, /debug/pprof)
	// DBApplication is the application_name of its PostgreSQL sessions (pg_stat_activity).
	DBApplication() string
	// Signal sends a signal to the process; an external target returns an error.
	Signal(os.Signal) error
	// Exited is closed when the process exits (nil: never observed, an external target).
	Exited() <-chan struct{}
	ExitCode() int       // valid once Exited is closed
	ExitedAt() time.Time // zero before the exit
	LogTail() string     // the last lines of its output ("" when unknown)
	// Stop ends a process the harness owns: SIGTERM, then SIGKILL after grace.
	Stop(grace time.Duration) error
}

var (
	_ Server = (*serverctl.Local)(nil)
	_ Server = (*serverctl.External)(nil)
)

// Launch gives a scenario its server and a token the server accepts. In managed mode it starts
// a fresh process with env appended to its environment; against an external target it returns
// that target (env cannot be applied and is ignored).
type Launch func(ctx context.Context, scenario string, env []string) (Server, string, error)

// SetupError is a failure to set the run up (a server that does not start, a target that does
// not answer, a seed that fails): the run stops and loadtest exits 2.
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// Settings are the knobs of a run, defaults applied by the caller. Durations are wall time,
// rates requests/s.
type Settings struct {
	Rate         float64       // steady, cancel and shutdown rate
	Duration     time.Duration // counted attack duration of steady and cancel
	Warmup       time.Duration // not counted, before Duration
	Timeout      time.Duration // client timeout per request
	SLOP99       time.Duration // p99 latency objective
	MaxErrorRate float64       // highest error ratio that passes (0.01 = 1 %)
	PostShare    float64       // share of POSTs in the mix (0.2)
	Seed         int64
	TraceSample  float64 // share of requests with a sampled traceparent
	JaegerURL    string
	SlowestN     int
	// MaxLateness is the generator's validity bound: send-lateness p99 above it makes a
	// scenario INVALID (0: the engine's default, 50 ms).
	MaxLateness time.Duration

	Settle         time.Duration // after the attack, before the settle checks (1 s)
	GoroutineSlack float64       // goroutines over the baseline still counted as settled
	SampleEvery    time.Duration // sampler interval (100 ms)
	CPUProfile     time.Duration // length of the CPU profile taken during steady

	CancelShare   float64       // share of cancel's requests held past the client timeout
	CancelDelay   time.Duration // X-Bench-Delay of those requests
	CancelTimeout time.Duration // cancel's client timeout

	ShutdownDuration  time.Duration // shutdown's attack duration
	ShutdownAt        time.Duration // SIGTERM this long after the attack starts
	HoldShare         float64       // share of shutdown's requests held in flight
	HoldDelay         time.Duration // their X-Bench-Delay
	DrainTimeout      time.Duration // the server's SHUTDOWN_TIMEOUT in shutdown
	DrainDelay        time.Duration // the server's DRAIN_DELAY in the shutdown scenarios
	ShortDrainTimeout time.Duration // SHUTDOWN_TIMEOUT in shutdown-short-drain (< HoldDelay)

	RampFrom, RampTo float64       // first and last rate of the ramp
	RampSteps        int           // number of rates tried
	RampStep         time.Duration // duration of each
}

// Runner runs scenarios one after another.
type Runner struct {
	Settings  Settings
	Launch    Launch
	Signals   bool          // the harness owns the server process (managed mode)
	DB        *pgxpool.Pool // the harness's own connection (pg_stat_activity, persisted writes); may be nil
	Dir       string        // the run folder
	SeedItems int           // items created through the API before the first scenario
	Progress  *progress.Line
	Metrics   *promexport.Metrics
	Log       io.Writer // one line per scenario; nil: none
	// OnResult sees every counted result of every attack after the scenario's own observer,
	// with the attack's name (its results file without .bin: steady, ramp.step2); nil: none.
	// Issue 12: jaeger.Keeper tells tail sampling which traces the report lists.
	OnResult func(attack string, res *vegeta.Result)
}

// Run is one scenario's state while it runs: what its disturbance and checks read and write.
type Run struct {
	Settings Settings
	Server   Server
	Token    string
	DB       *pgxpool.Pool
	Dir      string
	Name     string
	Metrics  *promexport.Metrics

	start       time.Time // offset 0 of the timeline
	attackStart time.Time
	attackEnd   time.Time
	sampler     *sampler.Sampler

	mu         sync.Mutex
	events     []summary.Event
	expectExit bool
	profiles   []summary.Profile
	topCPU     []summary.Function
	steps      []summary.RampStep
	cancel     cancelState
	shutdown   shutdownState
}

// Event marks a moment on the scenario's timeline (and counts it in the harness metrics).
func (r *Run) Event(name, detail string) {
	r.mu.Lock()
	r.events = append(r.events, summary.Event{OffsetMs: ms(time.Since(r.start)), Name: name, Detail: detail})
	r.mu.Unlock()
	r.Metrics.Event(r.Name, name)
}

// ExpectExit tells the crash watcher that the server is about to exit on purpose.
func (r *Run) ExpectExit() {
	r.mu.Lock()
	r.expectExit = true
	r.mu.Unlock()
}

func (r *Run) exitExpected() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.expectExit
}

// Offset returns t as milliseconds from the scenario's start.
func (r *Run) Offset(t time.Time) float64 { return ms(t.Sub(r.start)) }

// AttackStart returns when the attack (warm-up included) started.
func (r *Run) AttackStart() time.Time { return r.attackStart }

// Run runs scenarios in order and returns their summaries: one per scenario given, the ones not
// run marked SKIPPED with the reason. It stops early on ctx cancellation (the running scenario
// is INTERRUPTED) and after a crash (later scenarios SKIPPED). The error is a *SetupError when a
// server could not be started or seeded; the summaries so far are still returned.
func (rn *Runner) Run(ctx context.Context, scenarios []Scenario) ([]summary.Scenario, error) {
	var out []summary.Scenario
	skipRest := ""
	seeded := false
	for _, s := range scenarios {
		sc := summary.Scenario{Name: s.Name, Description: s.Description, StartedAt: time.Now().UTC(),
			StatusCodes: map[string]int64{}, ErrorClasses: map[string]int64{}}
		switch {
		case skipRest != "":
			skip(&sc, skipRest)
		case ctx.Err() != nil:
			skip(&sc, "not run: the run was interrupted")
		case s.Signals && !rn.Signals:
			skip(&sc, "external target: the harness cannot send signals to a server it did not start, so this scenario cannot run")
		default:
			if err := rn.runOne(ctx, s, &sc, !seeded); err != nil {
				var se *SetupError
				if errors.As(err, &se) {
					sc.Verdict, sc.Reasons = summary.Fail, []string{firstLine(err.Error())}
					out = append(out, sc)
					return out, err
				}
				return out, err
			}
			seeded = true
			if sc.Verdict == summary.Interrupted {
				skipRest = "not run: the run was interrupted"
			} else if crashed(sc) {
				skipRest = "not run: the server crashed in " + s.Name
			}
		}
		if rn.Log != nil {
			fmt.Fprintf(rn.Log, "%s %s\n", s.Name, sc.Verdict)
		}
		out = append(out, sc)
	}
	return out, nil
}

func skip(sc *summary.Scenario, reason string) {
	sc.Verdict, sc.Reasons = summary.Skipped, []string{reason}
}

func crashed(sc summary.Scenario) bool {
	for _, e := range sc.Events {
		if e.Name == "crash" {
			return true
		}
	}
	return false
}

// runOne runs one scenario into sc. Only set-up failures are returned; everything else is a
// verdict on sc.
func (rn *Runner) runOne(ctx context.Context, s Scenario, sc *summary.Scenario, seed bool) error {
	set := rn.Settings
	var env []string
	if s.ServerEnv != nil {
		env = s.ServerEnv(set)
	}
	srv, token, err := rn.Launch(ctx, s.Name, env)
	if err != nil {
		if ctx.Err() != nil { // Ctrl-C while the server was starting: an interrupt, not a set-up failure
			sc.Verdict, sc.Reasons = summary.Interrupted, []string{"interrupted while the server was starting"}
			return nil
		}
		return &SetupError{fmt.Errorf("scenario %s: %w", s.Name, err)}
	}
	defer func() { _ = srv.Stop(5 * time.Second) }()
	if seed && rn.SeedItems > 0 {
		if err := Seed(ctx, srv.API(), token, rn.SeedItems); err != nil {
			if ctx.Err() != nil {
				sc.Verdict, sc.Reasons = summary.Interrupted, []string{"interrupted while seeding"}
				return nil
			}
			return &SetupError{fmt.Errorf("seed %s: %w\n%s", srv.API(), err, srv.LogTail())}
		}
	}

	r := &Run{Settings: set, Server: srv, Token: token, DB: rn.DB, Dir: rn.Dir, Name: s.Name, Metrics: rn.Metrics,
		start: time.Now()}
	if rn.DB != nil {
		r.sampler = sampler.New(srv.Admin(), rn.DB, srv.DBApplication(), set.SampleEvery)
	} else {
		r.sampler = sampler.New(srv.Admin(), nil, "", set.SampleEvery)
	}
	sampleCtx, stopSampling := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { r.sampler.Run(sampleCtx, r.start) })
	defer func() { stopSampling(); wg.Wait() }()

	// A few samples before the attack make the baseline (goroutines of an idle server).
	if !sleep(ctx, 3*set.SampleEvery+set.SampleEvery/2) {
		sc.Verdict, sc.Reasons = summary.Interrupted, []string{"interrupted before the attack"}
		return nil
	}

	// The attack stops on Ctrl-C (ctx) or when the server dies under it (crash).
	attackCtx, stopAttack := context.WithCancel(ctx)
	defer stopAttack()
	var crash string
	var crashMu sync.Mutex
	watchDone := make(chan struct{})
	var stopWatch sync.Once
	endWatch := func() { stopWatch.Do(func() { close(watchDone) }) }
	defer endWatch()
	wg.Go(func() {
		select {
		case <-srv.Exited():
			if r.exitExpected() {
				return
			}
			msg := fmt.Sprintf("server exited unexpectedly (code %d) %.1fs into the scenario", srv.ExitCode(), time.Since(r.start).Seconds())
			if tail := lastLine(srv.LogTail()); tail != "" {
				msg += "; last log line: " + tail
			}
			crashMu.Lock()
			crash = msg
			crashMu.Unlock()
			r.Event("crash", fmt.Sprintf("exit code %d", srv.ExitCode()))
			stopAttack()
		case <-watchDone:
		}
	})

	r.attackStart = time.Now()
	sc.StartedAt = r.attackStart.UTC()
	r.Event("start", "")
	rn.Metrics.Running(s.Name, true)
	var disturbErr error
	disturbDone := make(chan struct{})
	if s.Disturb != nil {
		go func() {
			defer close(disturbDone)
			disturbErr = s.Disturb(attackCtx, r)
		}()
	} else {
		close(disturbDone)
	}

	steps := s.Steps(set)
	timeout := set.Timeout
	if s.Timeout != nil {
		timeout = s.Timeout(set)
	}
	opts := s.Targets(set)
	opts.BaseURL, opts.Token, opts.Seed, opts.TraceSample = srv.API(), token, set.Seed, set.TraceSample
	var outs []attack.Outcome
	var files []string
	interrupted := false
	for i, st := range steps {
		file := s.Name + ".bin"
		if len(steps) > 1 {
			file = fmt.Sprintf("%s.step%d.bin", s.Name, i+1)
		}
		rn.Metrics.SetTargetRate(s.Name, st.Rate)
		out, err := attack.Run(attackCtx, attack.Config{
			Scenario:       s.Name,
			Pacer:          vegeta.ConstantPacer{Freq: max(1, int(st.Rate+0.5)), Per: time.Second},
			Duration:       st.Duration,
			Warmup:         st.Warmup,
			Targeter:       attack.NewTargeter(opts),
			Timeout:        timeout,
			KeepAlive:      true, // a real client reuses connections; the shutdown race depends on it
			ResultsPath:    filepath.Join(rn.Dir, file),
			JaegerURL:      set.JaegerURL,
			SlowestN:       set.SlowestN,
			MaxLatenessP99: set.MaxLateness,
			OnResult:       observer(s, r, rn.OnResult, strings.TrimSuffix(file, ".bin")),
			Progress:       rn.Progress,
			Metrics:        rn.Metrics,
		})
		if err != nil {
			stopAttack()
			<-disturbDone
			return &SetupError{fmt.Errorf("scenario %s: attack: %w", s.Name, err)}
		}
		outs = append(outs, out)
		files = append(files, file)
		withinSLO := true
		if len(steps) > 1 {
			withinSLO = r.recordStep(st, out)
		}
		if out.Interrupted || attackCtx.Err() != nil {
			interrupted = true
			break
		}
		if !withinSLO {
			break // past the knee: higher rates would only be slower
		}
	}
	r.attackEnd = time.Now()
	rn.Metrics.Running(s.Name, false)
	<-disturbDone
	r.Event("end", "")

	// Settle: the server gets the settle time to clean up after the load before the checks
	// that read its state (goroutines, pool, pg_stat_activity).
	settled := sleep(ctx, set.Settle)
	settleAt := time.Now()

	pick := pickOutcome(r, outs)
	outs[pick].Fill(sc)
	sc.Checks = append(sc.Checks, outs[pick].Checks...)
	sc.Files = map[string]string{"results": files[pick], "timeline": s.Name + ".timeline.json"}
	for i, f := range files {
		if i != pick {
			sc.Files[fmt.Sprintf("results_step%d", i+1)] = f
		}
	}
	crashMu.Lock()
	crashMsg := crash
	crashMu.Unlock()
	switch {
	case ctx.Err() != nil || (interrupted && crashMsg == "") || !settled:
		// Ctrl-C: keep the figures, no checks on a cut run.
		sc.Verdict = summary.Interrupted
		sc.Reasons = []string{"interrupted: the attack was stopped before its end"}
	default:
		if s.Check != nil {
			s.Check(ctx, r, sc)
		}
		if disturbErr != nil {
			sc.Checks = append(sc.Checks, check("disturbance", false, "ran", disturbErr.Error()))
		}
		if crashMsg != "" {
			sc.Checks = append([]summary.Check{check("server alive", false, "running until the scenario ends", crashMsg)}, sc.Checks...)
		}
		judge(sc)
		if crashMsg != "" && sc.Verdict != summary.Fail {
			// A crash is the server's failure even when the cut attack also looks invalid.
			sc.Verdict = summary.Fail
		}
	}

	endWatch()
	stopSampling()
	wg.Wait()
	samples := r.sampler.Samples()
	sc.Timeline = samples
	r.mu.Lock()
	sc.Events = append([]summary.Event(nil), r.events...)
	sc.Profiles, sc.TopCPU = r.profiles, r.topCPU
	if len(r.steps) > 0 {
		sc.Ramp = rampStats(r.steps, set)
	}
	r.mu.Unlock()
	sc.Server = sampler.Stats(samples, r.attackStart.Sub(r.start), r.attackEnd.Sub(r.start), settleAt.Sub(r.start), set.GoroutineSlack)
	if err := writeTimeline(filepath.Join(rn.Dir, sc.Files["timeline"]), sc); err != nil {
		sc.Reasons = append(sc.Reasons, err.Error())
	}
	return nil
}

// pickOutcome chooses the step whose figures stand for the scenario: the only one, or for the
// ramp the highest rate within the SLO (the capacity), else the first.
func pickOutcome(r *Run, outs []attack.Outcome) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The same rule as rampStats: the last step of the unbroken run from the first that met
	// the SLO.
	pick := 0
	for i, st := range r.steps {
		if !st.WithinSLO || i >= len(outs) {
			break
		}
		pick = i
	}
	return pick
}

// observer returns the attack's per-result hook: the scenario's own tallies, if it has any,
// then the runner's also, if set, told the attack's name.
func observer(s Scenario, r *Run, also func(string, *vegeta.Result), attack string) func(*vegeta.Result) {
	if s.Observe == nil && also == nil {
		return nil
	}
	return func(res *vegeta.Result) {
		if s.Observe != nil {
			s.Observe(r, res)
		}
		if also != nil {
			also(attack, res)
		}
	}
}

func writeTimeline(path string, sc *summary.Scenario) error {
	b, err := json.MarshalIndent(struct {
		Scenario string           `json:"scenario"`
		Samples  []summary.Sample `json:"samples"`
		Events   []summary.Event  `json:"events"`
	}{sc.Name, sc.Timeline, sc.Events}, "", " ")
	if err != nil {
		return fmt.Errorf("encode timeline: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write timeline: %w", err)
	}
	return nil
}

// sleep waits d or until ctx is done; it reports whether the whole d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func lastLine(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return s[i+1:]
		}
	}
	return s
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
