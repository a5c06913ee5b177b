package scenario

import (
	"math"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

func TestRampStepsAreGeometric(t *testing.T) {
	tests := []struct {
		name     string
		from, to float64
		n        int
		want     []float64
	}{
		{"doubling", 100, 6400, 7, []float64{100, 200, 400, 800, 1600, 3200, 6400}},
		{"quadrupling", 100, 1600, 3, []float64{100, 400, 1600}},
		{"one step", 250, 250, 1, []float64{250}},
		{"flat", 50, 50, 3, []float64{50, 50, 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := rampSteps(Settings{Ramp: RampSettings{From: tt.from, To: tt.to, Steps: tt.n, Step: time.Second}, Warmup: time.Second})
			if len(steps) != len(tt.want) {
				t.Fatalf("%d steps, want %d", len(steps), len(tt.want))
			}
			for i, st := range steps {
				if math.Abs(st.Rate-tt.want[i]) > 1e-9*tt.want[i] {
					t.Errorf("step %d rate = %v, want %v", i, st.Rate, tt.want[i])
				}
			}
			if steps[0].Warmup != time.Second || (len(steps) > 1 && steps[1].Warmup != 0) {
				t.Errorf("only the first step warms up: %+v", steps)
			}
		})
	}
}

func TestRampCapacity(t *testing.T) {
	set := Settings{SLOP99: 100 * time.Millisecond, MaxErrorRate: 0.01}
	step := func(rate float64, within, valid bool) summary.RampStep {
		return summary.RampStep{Rate: rate, WithinSLO: within, Valid: valid}
	}
	slow := func(rate float64) summary.RampStep { // the server answered slowly to sends on time
		return summary.RampStep{Rate: rate, Valid: true, P99Ms: 900, P99IntendedMs: 950}
	}
	late := func(rate float64) summary.RampStep { // sends were late, answers quick
		return summary.RampStep{Rate: rate, Valid: false, P99Ms: 2, P99IntendedMs: 300, LatenessP99Ms: 290}
	}
	starved := func(rate float64) summary.RampStep { // both late and slow: the server's signal wins
		return summary.RampStep{Rate: rate, Valid: false, P99Ms: 1400, P99IntendedMs: 1500, LatenessP99Ms: 80}
	}
	tests := []struct {
		name     string
		steps    []summary.RampStep
		capacity float64
		limit    string
	}{
		{"knee in the middle", []summary.RampStep{step(100, true, true), step(200, true, true), slow(400)}, 200, "server"},
		{"a pass past the knee is noise", []summary.RampStep{step(100, true, true), slow(200), step(400, true, true)}, 100, "server"},
		{"every step within", []summary.RampStep{step(100, true, true), step(200, true, true)}, 200, "none"},
		{"first step misses", []summary.RampStep{slow(100)}, 0, "server"},
		{"generator limit", []summary.RampStep{step(100, true, true), late(200)}, 100, "generator"},
		{"a saturated server with a late generator is the server's", []summary.RampStep{step(100, true, true), starved(4385)}, 100, "server"},
		{"refined: the highest met below the lowest missed", []summary.RampStep{step(100, true, true), step(200, true, true), slow(400), step(283, true, true), late(336), step(308, true, true)}, 308, "generator"},
		{"refined: a met rate above a missed one is not capacity", []summary.RampStep{step(100, true, true), slow(400), slow(200), step(283, true, true)}, 100, "server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := rampStats(tt.steps, set)
			if rs.CapacityRate != tt.capacity || rs.Limit != tt.limit {
				t.Errorf("capacity %v, limit %q (%s); want %v, %q", rs.CapacityRate, rs.Limit, rs.StopReason, tt.capacity, tt.limit)
			}
		})
	}
}

// TestRampRefinesBetweenMetAndMissed: after the first miss the ramp bisects (in ratio) between
// the highest rate met and the lowest missed, -ramp-refine times, and not at all when there is
// no knee to refine.
func TestRampRefinesBetweenMetAndMissed(t *testing.T) {
	set := Settings{SLOP99: 100 * time.Millisecond, MaxErrorRate: 0.01, Ramp: RampSettings{Refine: 3, Step: time.Second}}
	capacity := 3000.0 // a server that meets the SLO up to here
	r := &rampRun{set: set}
	for _, own := range []float64{1000, 2000, 4000} {
		r.steps = append(r.steps, summary.RampStep{Rate: own, WithinSLO: own <= capacity, Valid: true})
	}
	var rates []float64
	for {
		st, ok := r.next()
		if !ok {
			break
		}
		if st.Pause == 0 || st.Duration != time.Second {
			t.Errorf("refinement step %+v: want a pause and the step duration", st)
		}
		rates = append(rates, st.Rate)
		r.steps = append(r.steps, summary.RampStep{Rate: st.Rate, WithinSLO: st.Rate <= capacity, Valid: true, Refined: true})
	}
	want := []float64{2828.4, 3363.6, 3084.4}
	if len(rates) != len(want) {
		t.Fatalf("refined at %v, want %v", rates, want)
	}
	for i := range want {
		if math.Abs(rates[i]-want[i]) > 0.1 {
			t.Errorf("refinement %d at %.1f, want %.1f", i, rates[i], want[i])
		}
	}
	if got := rampStats(r.steps, set).CapacityRate; math.Abs(got-2828.4) > 0.1 {
		t.Errorf("capacity after refinement %.1f, want 2828.4: the highest rate met below the lowest missed", got)
	}
	for _, tt := range []struct {
		name  string
		steps []summary.RampStep
	}{
		{"every step met", []summary.RampStep{{Rate: 100, WithinSLO: true}, {Rate: 200, WithinSLO: true}}},
		{"the first step missed", []summary.RampStep{{Rate: 100}}},
	} {
		r := &rampRun{set: set, steps: tt.steps}
		if st, ok := r.next(); ok {
			t.Errorf("%s: refined at %v", tt.name, st.Rate)
		}
	}
}
