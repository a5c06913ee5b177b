package compare

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestUCritical checks the exact two-sided critical values of the U test against the published
// table (α = 0.05), and that there are none where the sizes cannot reach α.
func TestUCritical(t *testing.T) {
	tests := []struct{ n1, n2, want int }{
		{2, 2, -1}, {3, 3, -1}, {4, 4, 0}, {5, 5, 2}, {6, 6, 5}, {8, 8, 13}, {10, 10, 23}, {4, 8, 4},
	}
	for _, tt := range tests {
		if got := uCritical(tt.n1, tt.n2, 0.05); got != tt.want {
			t.Errorf("uCritical(%d, %d) = %d, want %d", tt.n1, tt.n2, got, tt.want)
		}
	}
}

// TestMDEHasItsPower checks that a true shift of the computed MDE is caught by both run-level
// tests in about Power of simulated comparisons, and half the MDE in far fewer: the MDE is
// neither optimistic nor padded.
func TestMDEHasItsPower(t *testing.T) {
	const m, alpha, floor = 20, 0.05, 0.05
	tests := []struct {
		n     int
		sigma float64
	}{{6, 0.1}, {8, 0.2}, {12, 0.05}}
	rk := newRankPower()
	for _, tt := range tests {
		d := mdeLog(tt.n, tt.n, tt.sigma, floor, alpha, m, rk)
		crit := uCritical(tt.n, tt.n, alpha)
		caught := func(shift float64) float64 {
			rng := rand.New(rand.NewPCG(uint64(tt.n), 9))
			const sims = 4000
			hits := 0
			for range sims {
				x, y := make([]float64, tt.n), make([]float64, tt.n)
				u := 0
				for i := range x {
					x[i], y[i] = rng.NormFloat64()*tt.sigma, rng.NormFloat64()*tt.sigma+shift
				}
				for _, a := range x {
					for _, b := range y {
						if b <= a {
							u++
						}
					}
				}
				vals := append(append([]float64(nil), x...), y...)
				p := holmP([]familyTest{{values: vals, sdMin: floor, worse: 1}}, tt.n, towardsWorse)[0]
				if u <= crit && p*m < alpha { // Holm's first step in a family of m
					hits++
				}
			}
			return float64(hits) / sims
		}
		if got := caught(d); math.Abs(got-Power) > 0.1 {
			t.Errorf("n=%d σ=%g: a shift of the MDE %.3f caught in %.0f%%, want about %.0f%%", tt.n, tt.sigma, d, got*100, Power*100)
		}
		if got := caught(d / 2); got > 0.5 {
			t.Errorf("n=%d σ=%g: half the MDE caught in %.0f%%: the MDE is padded", tt.n, tt.sigma, got*100)
		}
	}
}

// TestPowerOnRealRuns checks that, on real recorded unchanged runs, 1 against 1 and 2 against 2
// are INCONCLUSIVE, steady's p99 among them with the runs it would need; 4 against 4 and 8
// against the 7 others (15 valid unchanged runs recorded) pass, naming what they could not see.
// The figures are logged for docs/compare.md:
//
//	go test ./loadtest/internal/compare -run PowerOnRealRuns -v
func TestPowerOnRealRuns(t *testing.T) {
	aa := validOnly(recordings(t, "aa"))
	if len(aa) < 15 {
		t.Fatalf("%d valid unchanged recorded runs, want 15", len(aa))
	}
	tests := []struct {
		nBase, nCur int
		outcome     Outcome
		p99         Verdict
	}{
		{1, 1, Underpowered, Inconclusive},
		{2, 2, Underpowered, Inconclusive},
		{4, 4, OK, Inconclusive},
		{8, 7, OK, Inconclusive},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dv%d", tt.nBase, tt.nCur), func(t *testing.T) {
			res, err := Compare(aa[:tt.nBase], aa[tt.nBase:tt.nBase+tt.nCur], DefaultThresholds())
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tt.outcome {
				t.Errorf("outcome %s (%s), want %s", res.Outcome, res.Headline, tt.outcome)
			}
			mr, ok := res.Scenarios[0].metric("p99_ms")
			if res.Scenarios[0].Name != "steady" || !ok {
				t.Fatalf("no steady p99 in %+v", res.Scenarios[0])
			}
			if mr.Verdict != tt.p99 || mr.Power == nil {
				t.Fatalf("steady p99: %s (%s), want %s", mr.Verdict, mr.Why, tt.p99)
			}
			if mr.Power.NeedRuns <= tt.nCur || !strings.Contains(mr.Why, fmt.Sprintf("need %d runs a side", mr.Power.NeedRuns)) &&
				!strings.Contains(mr.Why, fmt.Sprintf("need at least %d runs a side", mr.Power.NeedRuns)) {
				t.Errorf("steady p99 needs %d runs a side (%s), want more than %d, named", mr.Power.NeedRuns, mr.Why, tt.nCur)
			}
			if !strings.Contains(res.Headline, "steady p99_ms (") {
				t.Errorf("headline %q does not name steady p99", res.Headline)
			}
			var lines []string
			for _, s := range res.Scenarios {
				for _, m := range s.Metrics {
					if m.Power == nil {
						continue
					}
					lines = append(lines, fmt.Sprintf("%s %s %s, could detect %s, need %d", s.Name, m.Metric, m.Verdict, mdeCell(m), m.Power.NeedRuns))
				}
			}
			t.Logf("%s: %s\n%s", res.Outcome, res.Headline, strings.Join(lines, "\n"))
		})
	}
}
