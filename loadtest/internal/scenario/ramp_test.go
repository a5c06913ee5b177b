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
			steps := rampSteps(Settings{RampFrom: tt.from, RampTo: tt.to, RampSteps: tt.n, RampStep: time.Second, Warmup: time.Second})
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
	step := func(rate float64, within, valid bool) summary.RampStep {
		return summary.RampStep{Rate: rate, WithinSLO: within, Valid: valid}
	}
	tests := []struct {
		name     string
		steps    []summary.RampStep
		capacity float64
		miss     float64 // rate of the first miss, 0 for none
	}{
		{"knee in the middle", []summary.RampStep{step(100, true, true), step(200, true, true), step(400, false, true)}, 200, 400},
		{"a pass past the knee is noise", []summary.RampStep{step(100, true, true), step(200, false, true), step(400, true, true)}, 100, 200},
		{"every step within", []summary.RampStep{step(100, true, true), step(200, true, true)}, 200, 0},
		{"first step misses", []summary.RampStep{step(100, false, true)}, 0, 100},
		{"generator limit", []summary.RampStep{step(100, true, true), step(200, false, false)}, 100, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rampStats(tt.steps, Settings{}).CapacityRate; got != tt.capacity {
				t.Errorf("capacity = %v, want %v", got, tt.capacity)
			}
			miss := firstMiss(tt.steps)
			switch {
			case tt.miss == 0 && miss != nil:
				t.Errorf("first miss = %+v, want none", *miss)
			case tt.miss != 0 && (miss == nil || miss.Rate != tt.miss):
				t.Errorf("first miss = %v, want rate %v", miss, tt.miss)
			}
		})
	}
}
