package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/sampler"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// SetupError is a failure to set the run up (a server that does not start, a target that does
// not answer, a seed that fails): the run stops and loadtest exits 2.
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// Runner runs scenarios one after another. It owns each scenario's timeline: the start and end
// events, the running and target-rate gauges, the sampler, the crash watch.
type Runner struct {
	Settings Settings
	Launch   Launch
	Managed  bool          // the harness starts the server process (it may signal it)
	DB       *pgxpool.Pool // the harness's own connection (pg_stat_activity, persisted writes); may be nil
	Dir      string        // the run folder
	// Seed prepares the first scenario's server through its API (the items server's seed
	// items); nil: nothing.
	Seed func(ctx context.Context, api, token string) error
	// Observer is told what the runs do as they go (the live line, the harness's metrics);
	// nil: none.
	Observer Observer
	Log      io.Writer // one line per scenario; nil: none
	// Watch returns a consumer of one attack's hits, told the attack's name (its results file
	// without .bin: steady, ramp.step2); nil, or a nil consumer: none. The trace keeper uses
	// it to tell tail sampling which traces the report will list.
	Watch func(attack string) attack.Consumer
	// Terminate: against an external target, each Server carries a Terminate (-signal-cmd),
	// so the scenarios that signal the server run.
	Terminate bool
	// Attack sends each step's load and hands its hits, in arrival order, to the consumers:
	// nil is attack.Attack, vegeta in this process; a fleet.Coordinator's Attack spreads it
	// over workers and merges their results into the same figures.
	Attack func(ctx context.Context, cfg attack.Config, consumers ...attack.Consumer) (attack.Figures, error)
	// Helpers are the PIDs of the benchmark's other processes on this machine (the workers
	// that run here): their CPU is the benchmark's own, not a neighbour's.
	Helpers []int
	// EnvIgnored: Launch does not give the server the scenarios' ServerEnv (a service of the
	// user's own, -server-cmd), so the scenarios that test such a setting are skipped.
	EnvIgnored bool
	// WritesTable is the table the shutdown scenario looks acknowledged writes up in (the
	// items server's "items"); empty: that check is not available.
	WritesTable string
}

// Ending is how a scenario's run ended, for the scenarios after it and for the caller.
type Ending int

const (
	Finished    Ending = iota
	Interrupted        // Ctrl-C: the rest are not run
	Crashed            // the server died under it: the rest are skipped
	WorkerLost         // a load generator was lost mid-attack: the rest are skipped
)

// Stop is why RunAll stopped before its last scenario: Ending Finished when it did not (or
// when a set-up failure, returned as the error, ended it). Scenario names where it happened,
// and Reason is that scenario's own reason for it.
type Stop struct {
	Ending   Ending
	Scenario string
	Reason   string
}

// skipReason is what the scenarios after a stop are marked SKIPPED with.
func (st Stop) skipReason() string {
	switch st.Ending {
	case Interrupted:
		return "not run: the run was interrupted"
	case Crashed:
		return "not run: the server crashed in " + st.Scenario
	case WorkerLost:
		return "not run: a worker was lost in " + st.Scenario
	}
	return ""
}

// RunAll runs scenarios in order and returns their summaries: one per scenario given, the ones
// not run marked SKIPPED with the reason. It stops early on ctx cancellation (the running
// scenario is INTERRUPTED) and after a crash or a lost worker (later scenarios SKIPPED), and
// says which in Stop. The error is a *SetupError when a server could not be started or seeded;
// the summaries so far are returned.
func (rn *Runner) RunAll(ctx context.Context, scenarios []Scenario) ([]summary.Scenario, Stop, error) {
	var out []summary.Scenario
	var stop Stop
	seeded := false
	for _, s := range scenarios {
		sc := summary.Scenario{Name: s.Name, Description: s.Description, StartedAt: time.Now().UTC(),
			StatusCodes: map[string]int64{}, ErrorClasses: map[string]int64{}}
		switch {
		case stop.Ending != Finished:
			skip(&sc, stop.skipReason())
		case ctx.Err() != nil:
			skip(&sc, "not run: the run was interrupted")
		case s.ManagedOnly && !rn.Managed:
			skip(&sc, "external target: this scenario tests a server setting that only a server the harness starts can be given")
		case s.ManagedOnly && rn.EnvIgnored:
			skip(&sc, "-server-cmd: this scenario tests a setting of the items server (its drain timeout), which another service does not take")
		case s.Signals && !rn.Managed && !rn.Terminate:
			skip(&sc, "external target without -signal-cmd: the harness cannot send signals to a server it did not start, so this scenario cannot run")
		default:
			end, err := rn.runOne(ctx, s, &sc, !seeded)
			if err != nil {
				sc.Verdict, sc.Reasons = summary.Fail, []string{failReason(err)}
				return append(out, sc), stop, err
			}
			seeded = true
			if end != Finished {
				stop = Stop{Ending: end, Scenario: s.Name}
				if len(sc.Reasons) > 0 {
					stop.Reason = sc.Reasons[0]
				}
			}
		}
		if rn.Log != nil {
			fmt.Fprintf(rn.Log, "%s %s\n", s.Name, sc.Verdict)
		}
		out = append(out, sc)
	}
	return out, stop, nil
}

func skip(sc *summary.Scenario, reason string) {
	sc.Verdict, sc.Reasons = summary.Skipped, []string{reason}
}

// runOne runs one scenario into sc: launch, baseline, attack, settle and judge, collect. Only
// set-up failures are returned; everything else is a verdict on sc.
func (rn *Runner) runOne(ctx context.Context, s Scenario, sc *summary.Scenario, seed bool) (Ending, error) {
	l, err := rn.launch(ctx, s, seed)
	if err != nil {
		if ctx.Err() != nil { // Ctrl-C while the server was starting: an interrupt, not a set-up failure
			sc.Verdict, sc.Reasons = summary.Interrupted, []string{"interrupted while the server was starting"}
			return Interrupted, nil
		}
		return Finished, &SetupError{fmt.Errorf("scenario %s: %w", s.Name, err)}
	}
	if p := l.Server.Process; p != nil {
		defer func() { _ = p.Stop(5 * time.Second) }()
	}
	defer l.stopAdopted(5 * time.Second)
	if ln := l.Server.Listener; ln != nil {
		defer ln.Close()
	}
	stopSampling := rn.sample(ctx, l)
	defer func() { stopSampling(); _ = l.Sampler.Close() }()

	// A few samples before the attack make the baseline (goroutines of an idle server).
	baseline := 3*l.Settings.SampleEvery + l.Settings.SampleEvery/2
	l.Sampler.Fine(time.Now().Add(baseline))
	if !sleep(ctx, baseline) {
		sc.Verdict, sc.Reasons = summary.Interrupted, []string{"interrupted before the attack"}
		return Interrupted, nil
	}
	var h Hooks
	if s.Start != nil {
		h = s.Start(l)
	}
	run, err := rn.attack(ctx, s, l, h)
	if err != nil {
		return Finished, err
	}
	var setup *SetupError
	if errors.As(run.disturbErr, &setup) { // the -signal-cmd failed: the harness's doing, not the server's
		run.watch.end()
		return Finished, &SetupError{fmt.Errorf("scenario %s: %w", s.Name, setup.Err)}
	}
	// Settle: the server gets the settle time to clean up after the load before the checks
	// that read its state (goroutines, pool, pg_stat_activity).
	settled := sleep(ctx, l.Settings.Settle)
	settleAt := time.Now()
	out := outcome{run: run, crash: run.watch.end(), settled: settled}
	judge(ctx, s, l, h, out, sc)
	stopSampling()
	rn.collect(l, h, settleAt, sc, run)
	sc.Diagnosis = diagnosis(l, run, sc)
	switch {
	case out.crash != nil:
		return Crashed, nil
	case run.lost != "":
		return WorkerLost, nil
	case sc.Verdict == summary.Interrupted:
		return Interrupted, nil
	}
	return Finished, nil
}

// launch starts (or targets) the scenario's server and seeds it before the first scenario.
func (rn *Runner) launch(ctx context.Context, s Scenario, seed bool) (*Live, error) {
	set := rn.Settings
	var env []string
	if s.ServerEnv != nil {
		env = s.ServerEnv(set)
	}
	spec := LaunchSpec{Scenario: s.Name, Env: env, Listen: s.Listen != nil && s.Listen(set)}
	srv, err := rn.Launch(ctx, spec)
	if err != nil {
		return nil, err
	}
	if seed && rn.Seed != nil {
		if err := rn.Seed(ctx, srv.API(), srv.Token); err != nil {
			if srv.Process != nil {
				_ = srv.Process.Stop(5 * time.Second)
				err = fmt.Errorf("seed %s: %w\n%s", srv.API(), err, srv.Process.LogTail())
			}
			return nil, err
		}
	}
	var db sampler.Querier
	if rn.DB != nil && srv.DBApplication() != "" {
		db = rn.DB
	}
	sig := probe(ctx, srv, db != nil)
	pid := 0
	if srv.Process != nil {
		pid = srv.Process.PID()
	}
	every := set.SampleEvery
	if s.SampleEvery != nil {
		every = s.SampleEvery(set)
	}
	smp := sampler.NewFor(sig, db, srv.DBApplication(), pid, every)
	serverEvery := set.ServerEvery
	if s.ServerEvery != nil {
		serverEvery = s.ServerEvery(set)
	}
	smp.SetServerEvery(serverEvery)
	l := &Live{Settings: set, Server: srv, DB: rn.DB, Dir: rn.Dir, Name: s.Name, observer: rn.observer(),
		Signals: sig, WritesTable: rn.WritesTable, kernel: watchKernel(srv, smp),
		Sampler: smp, start: time.Now()}
	l.Contention = rn.monitor(l)
	return l, nil
}

// attackRun is what the attack of one scenario left for the judge.
type attackRun struct {
	figs       []attack.Figures
	files      []string
	cut        bool   // interrupted before its end (Ctrl-C, a crash or a lost worker)
	lost       string // a worker lost mid-attack, named (attack.Figures.Cut)
	disturbErr error
	watch      *crashWatch
	plan       Plan // the steps' pacing; it names the step that stands for the scenario
	// cpu is the CPU time the server's process and this harness ran during the attack
	// (measured: a server this harness started, alive at the end).
	cpu         StepCPU
	cpuMeasured bool
}

// plan is the scenario's pacing plan, and whether it may run more than one step (their results
// files are then numbered).
func plan(s Scenario, l *Live, h Hooks) (p Plan, multi bool) {
	if h.Plan != nil {
		return h.Plan, true
	}
	return &once{step: s.Step(l.Settings)}, false
}

// cpuPerRequest is the server's and the harness's CPU per request sent during the attack, in
// µs; 0 when not measured.
func (run attackRun) cpuPerRequest() (server, harness float64) {
	var sent int64
	for _, f := range run.figs {
		sent += f.Requests + f.Warmups
	}
	if !run.cpuMeasured {
		return 0, 0
	}
	return run.cpu.perRequest(sent)
}

// attack runs the scenario's steps one after another, its disturbance beside them, and stops
// on Ctrl-C (ctx) or when the server dies under it.
func (rn *Runner) attack(ctx context.Context, s Scenario, l *Live, h Hooks) (attackRun, error) {
	attackCtx, stopAttack := context.WithCancel(ctx)
	defer stopAttack()
	run := attackRun{watch: watchCrash(l, stopAttack)}
	l.attackStart = time.Now()
	l.Event(summary.EventStart, "")
	rn.observer().Running(s.Name, true)
	joinDisturb := disturb(attackCtx, h.Disturb)
	meter := newCPUMeter(l, rn.Helpers)
	whole := meter.start()
	pl, multi := plan(s, l, h)
	run.plan = pl
	for i := 1; ; i++ {
		st, ok := pl.Next()
		if !ok {
			break
		}
		file := s.Name + ".bin"
		if multi {
			file = fmt.Sprintf("%s.step%d.bin", s.Name, i)
		}
		if st.Pause > 0 && !sleep(attackCtx, st.Pause) {
			run.cut = true
			break
		}
		span := meter.start()
		f, err := rn.step(attackCtx, s, l, h, st, file)
		if err != nil {
			stopAttack()
			joinDisturb()
			run.watch.end()
			return run, &SetupError{fmt.Errorf("scenario %s: attack: %w", s.Name, err)}
		}
		run.figs, run.files = append(run.figs, f), append(run.files, file)
		cpu, _ := span.stop()
		pl.Ended(StepResult{Step: st, Figures: f, CPU: cpu})
		if f.Interrupted || attackCtx.Err() != nil {
			run.cut, run.lost = true, f.Cut
			break
		}
	}
	run.cpu, run.cpuMeasured = whole.stop()
	l.attackEnd = time.Now()
	// The settle checks (goroutines, in-flight, pool after the attack) read the server's state
	// through the settle and the checks after it: readings of the moment, not a second old.
	l.Sampler.Fine(l.attackEnd.Add(l.Settings.Settle + 5*l.Settings.SampleEvery))
	rn.observer().Running(s.Name, false)
	run.disturbErr = joinDisturb()
	l.Event(summary.EventEnd, "")
	return run, nil
}

// observer returns the Runner's Observer, or one that does nothing.
func (rn *Runner) observer() Observer {
	if rn.Observer == nil {
		return noObserver{}
	}
	return rn.Observer
}

// step runs one constant-rate attack, its hits fanned out to the Runner's observer, the
// scenario's and the trace keeper's.
func (rn *Runner) step(ctx context.Context, s Scenario, l *Live, h Hooks, st Step, file string) (attack.Figures, error) {
	set := l.Settings
	consumers, done := rn.observer().Step(s.Name, st)
	if h.Observe != nil {
		consumers = append(consumers, attack.ConsumerFunc(h.Observe))
	}
	if rn.Watch != nil {
		if c := rn.Watch(strings.TrimSuffix(file, ".bin")); c != nil {
			consumers = append(consumers, c)
		}
	}
	opts := s.Targets(set)
	opts.BaseURL, opts.Token, opts.Seed, opts.TraceSample = l.Server.API(), l.Server.Token, set.Seed, set.TraceSample
	opts.Requests, opts.Held = set.Targets, set.HeldTargets
	timeout := cmpOr(st.Timeout, set.Timeout)
	send := rn.Attack
	if send == nil {
		send = attack.Attack
	}
	f, err := send(ctx, attack.Config{
		Scenario:       s.Name,
		Pacer:          vegeta.ConstantPacer{Freq: max(1, int(st.Rate+0.5)), Per: time.Second},
		Duration:       st.Duration,
		Warmup:         st.Warmup,
		Targets:        opts,
		Timeout:        timeout,
		HeldTimeout:    cmpOr(st.HeldTimeout, timeout),
		KeepAlive:      true, // a real client reuses connections; the shutdown race depends on it
		ResultsPath:    filepath.Join(l.Dir, file),
		Origin:         l.start,
		JaegerURL:      set.JaegerURL,
		SlowestN:       set.SlowestN,
		MaxLatenessP99: set.MaxLateness,
	}, consumers...)
	if done != nil {
		done(f.AchievedRate)
	}
	return f, err
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// disturb starts fn beside the attack; the returned func waits for it and returns its error.
func disturb(ctx context.Context, fn func(context.Context) error) func() error {
	if fn == nil {
		return func() error { return nil }
	}
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = fn(ctx)
	}()
	return func() error { <-done; return err }
}

// HarnessApplication is the application_name of the harness's own PostgreSQL connections.
const HarnessApplication = "loadtest"

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
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// failReason is err on one line: its first line and, when output follows it (the log of a
// server that would not start), that output's last line, where the server says why.
func failReason(err error) string {
	msg := strings.TrimSpace(err.Error())
	if first := firstLine(msg); first != msg {
		return first + "; last output line: " + lastLine(msg)
	}
	return msg
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
