package scenario

import (
	"context"
	"fmt"
	"math"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Ramp tries rising constant rates, one step after another, and reports the highest whose p99
// and error ratio stayed within the SLO and whose generator kept up: the capacity. It passes when
// there is one (the lowest rate met the SLO); the summary figures are those of that step.
// The rates rise geometrically, so a wide range (a knee anywhere from 100 to several thousand
// requests/s) is covered in a few steps, and the ramp stops at the first step past the knee:
// a higher rate would only be slower and tell nothing more.
func Ramp() Scenario {
	return Scenario{
		Name:        "ramp",
		Description: "stepped rates; capacity = the highest rate whose p99 stays under the SLO",
		Default:     true,
		Steps:       rampSteps,
		Targets:     mix,
		Check:       func(_ context.Context, r *Run, sc *summary.Scenario) { checkRamp(r, sc) },
	}
}

func rampSteps(s Settings) []Step {
	n := max(1, s.RampSteps)
	steps := make([]Step, n)
	for i := range n {
		rate := s.RampFrom
		if n > 1 {
			rate *= math.Pow(s.RampTo/s.RampFrom, float64(i)/float64(n-1))
		}
		steps[i] = Step{Rate: rate, Duration: s.RampStep}
	}
	steps[0].Warmup = s.Warmup
	return steps
}

// recordStep keeps one ramp step's figures and reports whether the step met the SLO with a
// generator that kept up (false: the ramp is past its knee, or past the generator's limit).
func (r *Run) recordStep(st Step, out attack.Outcome) bool {
	var sc summary.Scenario
	out.Fill(&sc)
	valid := true
	for _, c := range out.Checks {
		if !c.Pass {
			valid = false
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	step := summary.RampStep{
		Rate:         st.Rate,
		AchievedRate: sc.AchievedRate,
		P99Ms:        sc.Latency.P99,
		ErrorRatio:   sc.ErrorRatio,
		Valid:        valid,
		WithinSLO:    valid && sc.Latency.P99 <= ms(r.Settings.SLOP99) && sc.ErrorRatio <= r.Settings.MaxErrorRate,
	}
	r.steps = append(r.steps, step)
	return step.WithinSLO
}

// rampStats derives the capacity: the highest rate within the SLO below the first one that was
// not (a rate past the knee that happens to pass again is noise, not capacity).
func rampStats(steps []summary.RampStep, _ Settings) *summary.RampStats {
	st := &summary.RampStats{Steps: steps}
	for _, s := range steps {
		if !s.WithinSLO {
			break
		}
		st.CapacityRate = s.Rate
	}
	return st
}

func checkRamp(r *Run, sc *summary.Scenario) {
	r.mu.Lock()
	rs := rampStats(r.steps, r.Settings)
	r.mu.Unlock()
	last := 0.0
	if len(rs.Steps) > 0 {
		last = rs.Steps[len(rs.Steps)-1].Rate
	}
	got := fmt.Sprintf("%.0f req/s", rs.CapacityRate)
	switch stop := firstMiss(rs.Steps); {
	case rs.CapacityRate == last && last > 0:
		got += " (every step met the SLO: capacity is at least this)"
	case stop != nil && !stop.Valid:
		got += fmt.Sprintf(" (the generator could not keep up at %.0f req/s: capacity is at least this)", stop.Rate)
	}
	c := objective("capacity within the SLO", rs.CapacityRate > 0,
		fmt.Sprintf("> 0 req/s with p99 ≤ %s", r.Settings.SLOP99), got)
	// No capacity because the generator could not keep up with the first step says nothing
	// about the server: INVALID, not FAIL.
	if rs.CapacityRate == 0 && len(rs.Steps) > 0 && !rs.Steps[0].Valid {
		c.Kind = summary.Validity
	}
	sc.Checks = append(sc.Checks, c)
}

// firstMiss is the first step that did not meet the SLO, nil when every step did.
func firstMiss(steps []summary.RampStep) *summary.RampStep {
	for i := range steps {
		if !steps[i].WithinSLO {
			return &steps[i]
		}
	}
	return nil
}
