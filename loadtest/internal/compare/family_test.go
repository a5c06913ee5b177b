package compare

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

func TestFamilyP(t *testing.T) {
	sep := familyTest{values: []float64{1, 1.1, 0.9, 1.05, 2, 2.1, 1.9, 2.05}} // 4 base, 4 current
	same := familyTest{values: []float64{1, 1, 1, 1, 1, 1, 1, 1}, sdMin: 0.1}
	below := familyTest{values: []float64{400, 400, 400, 400, 401, 401, 401, 401}, sdMin: 5} // a change under the limit
	tests := []struct {
		name  string
		tests []familyTest
		want  []float64 // exact adjusted p-values
	}{
		{"complete separation: the smallest p 4+4 runs can give", []familyTest{sep}, []float64{2.0 / 70}},
		{"identical runs", []familyTest{same}, []float64{1}},
		{"a separation under the floor is no evidence", []familyTest{sep, below}, []float64{2.0 / 70, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := familyP(tt.tests, 4)
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 1e-9 && !(tt.want[i] == 1 && got[i] > 0.5) {
					t.Errorf("test %d: p=%v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestFamilyWiseErrorRate draws A/A families of 25 noisy metrics, 4 runs a side, and counts
// how often ANY metric gets p < 0.05. Family-wise it must stay near 5 %; tested one by one (the
// uncorrected rate, also computed here) it is far above, which is what the correction is for.
func TestFamilyWiseErrorRate(t *testing.T) {
	const families, metrics, alpha = 400, 25, 0.05
	rng := rand.New(rand.NewPCG(3, 3))
	var corrected, uncorrected int
	for range families {
		tests := make([]familyTest, metrics)
		for j := range tests {
			tests[j].values = make([]float64, 8)
			for i := range tests[j].values {
				tests[j].values[i] = rng.NormFloat64()
			}
		}
		anyC, anyU := false, false
		for j, p := range familyP(tests, 4) {
			anyC = anyC || p < alpha
			// one metric alone: its own permutation p (a family of one)
			if p1 := familyP(tests[j:j+1], 4)[0]; p1 < alpha {
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
	if c > 0.08 {
		t.Errorf("family-wise false alarms %.1f%%, want ≤ 8%% (α=5%% plus sampling error)", 100*c)
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

// TestRampComparedAtCommonRates: ramp windows only from runs at a step both sides reported,
// capacity per run, and the p99 at the highest step both sides ran validly, so that a capacity
// drop is judged rather than compared at different rates.
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
