package scenario

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
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
			if steps[0].Warmup != time.Second || (len(steps) > 1 && steps[1].Warmup != 500*time.Millisecond) {
				t.Errorf("the first step warms up for -warmup, the others for half a step: %+v", steps)
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

// TestRampRetriesAndRefines drives the ramp's plan as the runner does (Next, the step, Ended) against a server that meets the SLO up to 3000 req/s: a miss is
// tried again before it counts, a retry that meets the SLO takes the ramp on up, and a
// confirmed miss starts the bisection between the highest rate met and the lowest missed.
func TestRampRetriesAndRefines(t *testing.T) {
	set := Settings{SLOP99: 100 * time.Millisecond, MaxErrorRate: 0.01, Warmup: time.Second,
		Ramp: RampSettings{From: 1000, To: 4000, Steps: 3, Refine: 3, Step: time.Second}}
	tests := []struct {
		name     string
		flaky    float64 // a rate whose first try misses whatever the server can do
		want     []string
		capacity float64
	}{
		{"a knee at 3000", 0, []string{"1000", "2000", "4000", "4000 retry", "2828", "3364", "3084"}, 2828.4},
		{"a stall at 2000 is retried, and the ramp goes on", 2000, []string{"1000", "2000", "2000 retry", "4000", "4000 retry", "2828", "3364", "3084"}, 2828.4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, r, _ := driveRamp(set, tt.flaky)
			var got []string
			for i, st := range steps {
				if st.Warmup == 0 || st.Duration != time.Second {
					t.Errorf("step %+v: want a warm-up and the step duration", st)
				}
				name := fmt.Sprintf("%.0f", st.Rate)
				if r.steps[i].Retry {
					name += " retry"
				}
				got = append(got, name)
			}
			if strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("steps\n %s\nwant\n %s", strings.Join(got, ", "), strings.Join(tt.want, ", "))
			}
			if c := rampStats(r.steps, set).CapacityRate; math.Abs(c-tt.capacity) > 0.1 {
				t.Errorf("capacity %.1f, want %.1f", c, tt.capacity)
			}
			if cpu := r.steps[0].CPUPerRequestUs; cpu != 200 {
				t.Errorf("CPU per request of a step: %v µs, want 200", cpu)
			}
		})
	}
}

// driveRamp runs the ramp's step logic against a server whose knee is at 3000 req/s and whose
// first try at the flaky rate misses whatever it can do, and returns the steps handed out and
// the one the held CPU profile was armed for (−1: none).
func driveRamp(set Settings, flaky float64) ([]Step, *rampRun, int) {
	r := newRampRun(set, newHeldProfile(&Live{Settings: set}))
	var steps []Step
	profiled := -1
	tried := map[float64]bool{}
	for len(steps) < 30 {
		st, ok := r.Next()
		if !ok {
			break
		}
		if r.prof.armed.Load() {
			if profiled >= 0 {
				return nil, r, -2 // armed twice: one profile a run
			}
			profiled = len(steps)
		}
		steps = append(steps, st)
		p99 := 10.0
		if st.Rate > 3000 || (st.Rate == flaky && !tried[st.Rate]) {
			p99 = 900
		}
		tried[st.Rate] = true
		f := attack.Figures{Requests: 100, Successes: 100, LatencyIntended: summary.Latencies{P99: p99}}
		r.Ended(StepResult{Step: st, Figures: f, CPU: StepCPU{Server: 20 * time.Millisecond, Harness: 10 * time.Millisecond}})
	}
	return steps, r, profiled
}

// TestRampDoesNotRefineWithoutAKnee: nothing to refine when every rate met the SLO or the first
// missed twice.
func TestRampDoesNotRefineWithoutAKnee(t *testing.T) {
	set := Settings{Ramp: RampSettings{Refine: 3, Step: time.Second}}
	for _, tt := range []struct {
		name  string
		steps []summary.RampStep
	}{
		{"every step met", []summary.RampStep{{Rate: 100, WithinSLO: true}, {Rate: 200, WithinSLO: true}}},
		{"the first step missed twice", []summary.RampStep{{Rate: 100, Retried: true}, {Rate: 100, Retry: true}}},
	} {
		r := newRampRun(set, newHeldProfile(&Live{Settings: set}))
		r.steps = tt.steps
		if st, ok := r.beyond(); ok {
			t.Errorf("%s: stepped on at %v", tt.name, st.Rate)
		}
	}
}

// TestRampHoldsOneRateForCPU: the highest own rate not above -ramp-cpu-rate lasts
// -ramp-cpu-hold, on its second try too, and is marked; the other steps, refinements included,
// last -ramp-step. Without a rate, or with a hold no longer than a step, nothing is held.
func TestRampHoldsOneRateForCPU(t *testing.T) {
	tests := []struct {
		name     string
		cpuRate  float64
		hold     time.Duration
		flaky    float64
		want     []string // rate/duration of each step, * when marked held
		profiled int      // the step the CPU profile is taken in (−1: none)
	}{
		{"held at 2000, its stall retried", 2500, 5 * time.Second, 2000,
			[]string{"1000/1s", "2000/5s*", "2000/5s*", "4000/1s", "4000/1s", "2828/1s"}, 1},
		{"held after a retried stall below it", 2500, 5 * time.Second, 1000,
			[]string{"1000/1s", "1000/1s", "2000/5s*", "4000/1s", "4000/1s", "2828/1s"}, 2},
		{"no rate", 0, 5 * time.Second, 2000,
			[]string{"1000/1s", "2000/1s", "2000/1s", "4000/1s", "4000/1s", "2828/1s"}, -1},
		{"a hold no longer than a step", 2500, time.Second, 2000,
			[]string{"1000/1s", "2000/1s", "2000/1s", "4000/1s", "4000/1s", "2828/1s"}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := Settings{SLOP99: 100 * time.Millisecond, MaxErrorRate: 0.01, Warmup: time.Second,
				Ramp: RampSettings{From: 1000, To: 4000, Steps: 3, Refine: 1, Step: time.Second, CPURate: tt.cpuRate, CPUHold: tt.hold}}
			steps, r, profiled := driveRamp(set, tt.flaky)
			var got []string
			for i, st := range steps {
				name := fmt.Sprintf("%.0f/%s", st.Rate, st.Duration)
				if r.steps[i].CPUHold {
					name += "*"
				}
				got = append(got, name)
			}
			if strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("steps\n %s\nwant\n %s", strings.Join(got, ", "), strings.Join(tt.want, ", "))
			}
			if profiled != tt.profiled {
				t.Errorf("CPU profile taken in step %d, want %d (-2: armed twice)", profiled, tt.profiled)
			}
		})
	}
}
