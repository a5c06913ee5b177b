// Package scenario defines the bench's scenarios and runs them: each one against a fresh server
// (or the external target), with the sampler beside the attack, a disturbance of its own
// (profiles, SIGTERM, ...), and checks that turn the figures into a verdict.
//
// A Scenario is a value of one type. All of them are listed in All, in run order; adding one is
// a constructor in its own file and a line there. What a scenario does during one run lives in
// the Hooks its Start returns, around state of its own.
package scenario

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/sampler"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Scenario is one way of loading and judging the server.
type Scenario struct {
	Name        string
	Description string
	// Default: part of the run when -scenarios is not given. Variants that are meant to fail
	// (shutdown-short-drain) are selectable by name only.
	Default bool
	// Signals: the scenario signals the server process, so against an external target the
	// harness did not start it is skipped, unless a -signal-cmd does it (Server.Terminate).
	Signals bool
	// ManagedOnly: the scenario tests a server setting it gives through ServerEnv (a drain
	// timeout), which a server the harness did not start does not take: skipped against an
	// external target.
	ManagedOnly bool
	// SampleEvery is the scenario's sampler interval (nil: Settings.SampleEvery): a soak's
	// half hour needs no 100 ms readings.
	SampleEvery func(s Settings) time.Duration
	// ServerEvery is the scenario's server-read interval (nil: Settings.ServerEvery): shutdown
	// reads the server every sample, its listener's last counts come within a second of SIGTERM.
	ServerEvery func(s Settings) time.Duration
	// ServerEnv returns extra K=V for the scenario's fresh server (nil: none).
	ServerEnv func(s Settings) []string
	// Listen: the scenario's server is started on a listener the harness keeps
	// (Server.Listener), for a successor to inherit (nil: never).
	Listen func(s Settings) bool
	// Step is the attack at one constant rate (nil: the scenario paces itself with Hooks.Plan).
	Step func(s Settings) Step
	// Targets is how the scenario draws from the mix (its held share and hold time); the
	// requests (Settings.Targets), BaseURL, Token, Seed and TraceSample are filled by the runner.
	Targets func(s Settings) attack.TargetOptions
	// Start is called once the server is up and its baseline taken, and returns what the
	// scenario does during this run (nil: only the attack and its validity checks).
	Start func(l *Live) Hooks
}

// Step is one attack at a constant rate.
type Step struct {
	Rate     float64       // requests/s
	Duration time.Duration // counted
	Warmup   time.Duration // run before Duration, not counted
	Timeout  time.Duration // client timeout (0: Settings.Timeout)
	// HeldTimeout is the client timeout of the requests that carry a bench delay (0: Timeout).
	HeldTimeout time.Duration
	// Pause is idle time before the step, so that what a saturated step left behind (its
	// thousands of connections closing, the server's garbage) does not weigh on this one.
	Pause time.Duration
}

// Plan paces a scenario's attack step by step. The runner asks Next for a step, runs it, hands
// its result to Ended, and asks again until Next says no or the run is cut.
type Plan interface {
	// Next returns the step to run next; false ends the attack.
	Next() (Step, bool)
	// Ended sees the step that just ran: its figures and the CPU time used meanwhile.
	Ended(StepResult)
	// Judged is the index, among the steps run, of the one whose figures stand for the
	// scenario.
	Judged(figs []attack.Figures) int
}

// StepResult is one step as it ran.
type StepResult struct {
	Step    Step
	Figures attack.Figures
	CPU     StepCPU // zero when not measured
}

// once is the plan of a constant-rate scenario: its one step.
type once struct {
	step Step
	done bool
}

func (o *once) Next() (Step, bool) {
	if o.done {
		return Step{}, false
	}
	o.done = true
	return o.step, true
}

func (o *once) Ended(StepResult) {}

func (o *once) Judged(figs []attack.Figures) int { return len(figs) - 1 }

// StepCPU is the CPU time the server's process and this harness's ran during a step (zero when
// not measured: an external target).
type StepCPU struct{ Server, Harness time.Duration }

// Hooks are what a scenario does during one run, around state of its own. Every field may be
// nil.
type Hooks struct {
	// Observe sees every hit (warm-up ones too: Hit.Counted) in arrival order, on the attack
	// engine's goroutine.
	Observe func(*attack.Hit)
	// Disturb runs beside the attack and is joined before the checks; its error fails the
	// scenario with the reason.
	Disturb func(ctx context.Context) error
	// Plan paces an attack of several steps that adapts to what each one measured (the ramp);
	// nil: the scenario's Step, once.
	Plan Plan
	// Check judges after the settle time, unless the run was cut: it appends checks to sc.
	Check func(ctx context.Context, sc *summary.Scenario)
	// Collect adds the scenario's own figures to sc (profiles, ramp steps), cut run or not.
	Collect func(sc *summary.Scenario)
}

// All returns every scenario in run order. This list is the one place scenarios are named.
func All() []Scenario {
	return []Scenario{
		Steady(),
		Cancel(),
		Shutdown(),
		ShutdownShortDrain(),
		Deploy(),
		Ramp(),
		Soak(),
	}
}

// Select returns the scenarios named in names (in All's order), or the default set when names
// is empty. An unknown name is an error naming the known ones.
func Select(names []string) ([]Scenario, error) {
	all := All()
	if len(names) == 0 {
		return slices.DeleteFunc(all, func(s Scenario) bool { return !s.Default }), nil
	}
	known := make([]string, 0, len(all))
	for _, s := range all {
		known = append(known, s.Name)
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", n, strings.Join(known, ", "))
		}
	}
	return slices.DeleteFunc(all, func(s Scenario) bool { return !slices.Contains(names, s.Name) }), nil
}

// SignalsLast returns scs with the scenarios that signal the server moved to the end, each
// group in its order: against an external target a signal stops the one server every
// scenario shares.
func SignalsLast(scs []Scenario) []Scenario {
	out := slices.Clone(scs)
	slices.SortStableFunc(out, func(a, b Scenario) int {
		switch {
		case a.Signals == b.Signals:
			return 0
		case a.Signals:
			return 1
		}
		return -1
	})
	return out
}

// check builds a correctness Check.
func check(name string, pass bool, want, got string) summary.Check {
	return summary.NewCheck(summary.Correctness, name, pass, want, got)
}

// objective builds a performance Check (a latency or capacity objective; see summary.Judge).
func objective(name string, pass bool, want, got string) summary.Check {
	return summary.NewCheck(summary.Performance, name, pass, want, got)
}

// notMeasured is a check the harness could not make (no database, no data): it is never a PASS,
// and it says why. The scenario is then INVALID, not judged on what was not seen.
func notMeasured(name, want, why string) summary.Check {
	return summary.NewCheck(summary.Validity, name, false, want, "not measured: "+why)
}

// outOfReach is a check the harness cannot make where it runs, by design (the exit code of a
// server it did not start): it decides nothing, and the reports say "not measured" and why.
func outOfReach(name, want, why string) summary.Check {
	c := summary.NewCheck(summary.Correctness, name, true, want, "not measured: "+why)
	c.NotMeasured = true
	return c
}

// notAvailable is a check whose signal the server does not expose: it decides nothing, and the
// reports say what to expose for it.
func notAvailable(name, want, expose string) summary.Check {
	c := summary.NewCheck(summary.Correctness, name, true, want, "not available: "+expose)
	c.NotMeasured = true
	return c
}

// What a service exposes for the checks that need it (docs/harness.md, "Your own service").
const (
	exposeGoroutines = "expose go_goroutines or /debug/pprof"
	exposeCancelled  = "expose " + sampler.MetricCancelled + " (the httpcount middleware counts it)"
	exposePool       = "expose " + sampler.MetricPool + " (pgxpool's collector)"
	exposeDatabase   = "give -database-url and the service's -db-application (its application_name)"
)

func fmtMs(v float64) string { return fmt.Sprintf("%.1fms", v) }
