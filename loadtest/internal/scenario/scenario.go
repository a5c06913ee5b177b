// Package scenario defines the bench's scenarios and runs them: each one against a fresh server
// (or the external target), with the sampler beside the attack, a disturbance of its own
// (profiles, SIGTERM, ...), and checks that turn the figures into a verdict.
//
// A Scenario is a value of one type. All of them are listed in All, in run order; adding one is
// a constructor in its own file and a line there.
package scenario

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Scenario is one way of loading and judging the server.
type Scenario struct {
	Name        string
	Description string
	// Default: part of the run when -scenarios is not given. Variants that are meant to fail
	// (shutdown-short-drain) are selectable by name only.
	Default bool
	// Signals: the scenario signals the server process, so it is skipped against an external
	// target the harness did not start.
	Signals bool
	// ServerEnv returns extra K=V for the scenario's fresh server (nil: none).
	ServerEnv func(s Settings) []string
	// Steps is the pacing: one constant-rate step, or several (ramp) run one after another.
	Steps func(s Settings) []Step
	// Targets is the request mix; BaseURL, Token, Seed and TraceSample are filled by the runner.
	Targets func(s Settings) attack.TargetOptions
	// Timeout is the client's per-request timeout (0: Settings.Timeout).
	Timeout func(s Settings) time.Duration
	// Observe sees every result as it arrives (nil: nothing to tally). It may be called from
	// several goroutines at once.
	Observe func(r *Run, res *vegeta.Result)
	// Disturb runs beside the attack (nil: none) and is joined before the checks. Its error
	// fails the scenario with the reason.
	Disturb func(ctx context.Context, r *Run) error
	// Check judges the scenario once the attack is over and the settle time has passed: it
	// appends Checks and fills its own stats on sc.
	Check func(ctx context.Context, r *Run, sc *summary.Scenario)
}

// Step is one attack at a constant rate.
type Step struct {
	Rate     float64       // requests/s
	Duration time.Duration // counted
	Warmup   time.Duration // run before Duration, not counted
}

// All returns every scenario in run order. This list is the one place scenarios are named.
func All() []Scenario {
	return []Scenario{
		Steady(),
		Cancel(),
		Shutdown(),
		ShutdownShortDrain(),
		Ramp(),
	}
}

// Select returns the scenarios named in names (in All's order), or the default set when names
// is empty. An unknown name is an error naming the known ones.
func Select(names []string) ([]Scenario, error) {
	all := All()
	if len(names) == 0 {
		var out []Scenario
		for _, s := range all {
			if s.Default {
				out = append(out, s)
			}
		}
		return out, nil
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
	var out []Scenario
	for _, s := range all {
		if slices.Contains(names, s.Name) {
			out = append(out, s)
		}
	}
	return out, nil
}

// judge sets sc's verdict and reasons from its checks (summary.Judge).
func judge(sc *summary.Scenario) { sc.Verdict, sc.Reasons = summary.Judge(sc.Checks) }

// check builds a correctness Check.
func check(name string, pass bool, want, got string) summary.Check {
	return summary.NewCheck(summary.Correctness, name, pass, want, got)
}

// objective builds a performance Check (a latency or capacity objective; see summary.Judge).
func objective(name string, pass bool, want, got string) summary.Check {
	return summary.NewCheck(summary.Performance, name, pass, want, got)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtMs(v float64) string { return fmt.Sprintf("%.1fms", v) }
