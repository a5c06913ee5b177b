package compare

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

func TestHolmP(t *testing.T) {
	sep := familyTest{values: []float64{1, 1.1, 0.9, 1.05, 2, 2.1, 1.9, 2.05}, worse: towardsWorse} // 4 base, 4 current
	same := familyTest{values: []float64{1, 1, 1, 1, 1, 1, 1, 1}, sdMin: 0.1, worse: towardsWorse}
	below := familyTest{values: []float64{6, 6, 6, 6, 6.01, 6.01, 6.01, 6.01}, sdMin: 0.07, worse: towardsWorse} // a change under the floor
	noise := familyTest{values: []float64{1, 2, 3, 4, 4, 3, 2, 1}, worse: towardsWorse}
	better := sep
	better.worse = towardsBetter // the same rise, of a metric where higher is better
	tests := []struct {
		name   string
		tests  []familyTest
		signif []bool // adjusted p < 0.05
	}{
		{"clear separation", []familyTest{sep}, []bool{true}},
		{"identical runs", []familyTest{same}, []bool{false}},
		{"a separation under the floor is no evidence", []familyTest{below}, []bool{false}},
		{"one real change among noise survives", []familyTest{sep, noise, noise, noise, noise}, []bool{true, false, false, false, false}},
		{"a change for the better is no evidence of worse", []familyTest{better}, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := holmP(tt.tests, 4, towardsWorse)
			for i := range got {
				if (got[i] < 0.05) != tt.signif[i] {
					t.Errorf("test %d: adjusted p=%v, want significant %v", i, got[i], tt.signif[i])
				}
			}
		})
	}
	if p := holmP([]familyTest{better}, 4, towardsBetter)[0]; p >= 0.05 {
		t.Errorf("a clear change for the better: p=%v in the family of better verdicts", p)
	}
	// Adjusted p-values are probabilities.
	for _, p := range holmP([]familyTest{sep, noise, same}, 4, towardsWorse) {
		if p < 0 || p > 1 {
			t.Errorf("adjusted p %v outside [0, 1]", p)
		}
	}
}

// TestFamilyWiseErrorRate draws A/A families of 25 noisy metrics, 4 runs a side, and counts
// how often ANY metric gets p < 0.05. Family-wise (Holm) it must stay at or under 5 %; tested one
// by one (the uncorrected rate, also computed here) it is far above, which is what the
// correction is for.
func TestFamilyWiseErrorRate(t *testing.T) {
	const families, metrics, alpha = 400, 25, 0.05
	rng := rand.New(rand.NewPCG(3, 3))
	var corrected, uncorrected int
	for range families {
		tests := make([]familyTest, metrics)
		for j := range tests {
			tests[j].values, tests[j].worse = make([]float64, 8), towardsWorse
			for i := range tests[j].values {
				tests[j].values[i] = rng.NormFloat64()
			}
		}
		anyC, anyU := false, false
		for j, p := range holmP(tests, 4, towardsWorse) {
			anyC = anyC || p < alpha
			if p1 := holmP(tests[j:j+1], 4, towardsWorse)[0]; p1 < alpha { // a family of one: the raw p
				anyU = true
			}
		}
		if anyC {
			corrected++
		}
		if anyU {
			uncorrected++
		}
	}
	c, u := float64(corrected)/families, float64(uncorrected)/families
	if c > 0.06 {
		t.Errorf("family-wise false alarms %.1f%%, want ≤ 6%% (α=5%% plus sampling error)", 100*c)
	}
	if u < 0.3 {
		t.Errorf("uncorrected false alarms %.1f%%: the test cannot show what the correction does", 100*u)
	}
	t.Logf("A/A families with any p<%.2f: %.1f%% corrected, %.1f%% uncorrected", alpha, 100*c, 100*u)
}

// rampRun is one run with a ramp that reported the step at rate and ran steps 100, 400, 1600
// (valid up to top).
func rampRun(id string, rate, capacity, top float64, p99 map[float64]float64) Input {
	st := &summary.RampStats{CapacityRate: capacity}
	for _, r := range []float64{100, 400, 1600} {
		st.Steps = append(st.Steps, summary.RampStep{Rate: r, AchievedRate: r, P99Ms: p99[r], Valid: r <= top})
	}
	sc := summary.Scenario{Name: "ramp", Verdict: summary.Pass, TargetRate: rate, Ramp: st}
	for i := range 3 {
		sc.Windows = append(sc.Windows, summary.Window{StartMs: float64(i) * 1000, Requests: int64(rate), Throughput: rate, P50: 1, P99: 5})
	}
	return Input{Path: id, Run: summary.Run{ID: id, Scenarios: []summary.Scenario{sc}}}
}

// TestRampComparedAtCommonRates checks that ramps are compared on windows only from runs at a
// step both sides reported, on capacity per run, and on the p99 at the highest step both sides
// ran validly, so that a capacity drop is judged rather than compared at different rates.
func TestRampComparedAtCommonRates(t *testing.T) {
	p99 := map[float64]float64{100: 3, 400: 12, 1600: 900}
	slow := map[float64]float64{100: 30, 400: 400, 1600: 2000}
	var base, cur []Input
	for i := range 4 {
		base = append(base, rampRun(fmt.Sprint("b", i), 400, 400, 400, p99))
		cur = append(cur, rampRun(fmt.Sprint("c", i), 100, 100, 400, slow))
	}
	sc := rampScope(base, cur, "ramp")
	if sc.windowRate != -1 || sc.stepRate != 400 {
		t.Fatalf("scope %+v, want no common window rate (-1) and step 400", sc)
	}
	res, err := Compare(base, cur, DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	got := verdicts(res)
	for k, want := range map[string]Verdict{"ramp/capacity_rps": Worse, "ramp/ramp_p99_ms": Worse} {
		if got[k] != want {
			t.Errorf("%s: %s, want %s (%v)", k, got[k], want, got)
		}
	}
	if _, ok := got["ramp/p50_ms"]; ok && got["ramp/p50_ms"] != TooFew {
		t.Errorf("ramp windows at 400 and 100 req/s were compared: p50 %s", got["ramp/p50_ms"])
	}
	// One side at 400 in 3 of 4 runs: windows at 400 only.
	cur[0] = rampRun("c0", 400, 400, 400, p99)
	if sc := rampScope(base, cur, "ramp"); sc.windowRate != 400 {
		t.Errorf("window rate %v, want 400", sc.windowRate)
	}
}

// cpuRampRun is one ramp run with the own rates 400–6400: met up to and including metTop, the
// generator keeping up except at the rates in behind, and the CPU measured except at those in
// unmeasured.
func cpuRampRun(id string, metTop float64, behind, unmeasured []float64) Input {
	st := &summary.RampStats{CapacityRate: metTop}
	for _, r := range []float64{400, 800, 1600, 3200, 6400} {
		step := summary.RampStep{Rate: r, AchievedRate: r, Valid: !slices.Contains(behind, r), WithinSLO: r <= metTop,
			CPUPerRequestUs: 300, HarnessCPUPerRequestUs: 200}
		if slices.Contains(unmeasured, r) {
			step.CPUPerRequestUs = 0
		}
		st.Steps = append(st.Steps, step)
	}
	sc := summary.Scenario{Name: "ramp", Verdict: summary.Pass, TargetRate: metTop, Ramp: st}
	return Input{Path: id, Run: summary.Run{ID: id, Scenarios: []summary.Scenario{sc}}}
}

// holdAt marks a run's ramp step at rate as held for the CPU (-ramp-cpu-hold).
func holdAt(in Input, rate float64) {
	for i, st := range in.Run.Scenarios[0].Ramp.Steps {
		if st.Rate == rate {
			in.Run.Scenarios[0].Ramp.Steps[i].CPUHold = true
		}
	}
}

// TestRampCPURates checks that the ramp's CPU is compared at the own rates after the first that
// every run measured and most runs met: not past the knee, where a request's CPU measures the
// backlog, and not lost because one run's generator fell behind at a rate the others met.
func TestRampCPURates(t *testing.T) {
	healthy := func(id string) Input { return cpuRampRun(id, 3200, nil, nil) }
	tests := []struct {
		name string
		odd  []Input // replace the first runs of base
		hold bool    // every run held 1600 req/s for the CPU, but the odd ones
		want []float64
	}{
		{"6400 missed by every run", nil, false, []float64{800, 1600, 3200}},
		{"every run held 1600 for the CPU", nil, true, []float64{1600}},
		{"one run did not hold", []Input{healthy("b0")}, true, []float64{800, 1600, 3200}},
		{"one run's generator fell behind at 3200", []Input{cpuRampRun("b0", 1600, []float64{3200}, nil)}, false, []float64{800, 1600, 3200}},
		{"two of eight runs missed 3200", []Input{cpuRampRun("b0", 1600, nil, nil), cpuRampRun("b1", 1600, nil, nil)}, false, []float64{800, 1600, 3200}},
		{"half the runs missed 3200", []Input{cpuRampRun("b0", 1600, nil, nil), cpuRampRun("b1", 1600, nil, nil),
			cpuRampRun("b2", 1600, nil, nil), cpuRampRun("b3", 1600, nil, nil)}, false, []float64{800, 1600}},
		{"one run without CPU at 1600", []Input{cpuRampRun("b0", 3200, nil, []float64{1600})}, false, []float64{800, 3200}},
		{"every run met 6400", []Input{cpuRampRun("b0", 6400, nil, nil), cpuRampRun("b1", 6400, nil, nil),
			cpuRampRun("b2", 6400, nil, nil), cpuRampRun("b3", 6400, nil, nil)}, false, []float64{800, 1600, 3200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var base, cur []Input
			for i := range 4 {
				base = append(base, healthy(fmt.Sprint("b", i)))
				cur = append(cur, healthy(fmt.Sprint("c", i)))
			}
			if tt.hold {
				for _, in := range append(base, cur...) {
					holdAt(in, 1600)
				}
			}
			copy(base, tt.odd)
			if got := rampScope(base, cur, "ramp").cpuRates; !slices.Equal(got, tt.want) {
				t.Errorf("CPU rates %v, want %v", got, tt.want)
			}
		})
	}
}
