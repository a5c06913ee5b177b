package compare

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// BenchmarkRealRuns measures compare on real run-to-run noise: the runs bench/record.sh
// recorded (quick profile, one commit, interleaved). For each variant it draws seeded random
// 4-vs-4 comparisons, base from the unchanged runs and current from the variant's (for "aa",
// two disjoint sets of unchanged runs), and reports the share of comparisons by outcome:
//
//	pass-%        exit 0
//	flagged-%     exit 1 (REGRESSION or FAIL): a false alarm for aa, a detection for a fault
//	regression-%  of which a metric judged worse by the statistics (aa: the statistical false alarms)
//	unjudged-%    exit 2, CANNOT JUDGE: a run had an INVALID scenario
//	nofamily-%    comparisons with a metric judged worse before the family-wise correction
//
// "all" draws from every recorded run; "valid" only from runs without an INVALID scenario, as
// make regress's re-runs of INVALID rounds give it.
//
//	go test ./loadtest/internal/compare -run '^$' -bench RealRuns -benchtime 1x
func BenchmarkRealRuns(b *testing.B) {
	const draws, runs = 300, 4
	aa := recordings(b, "aa")
	for _, variant := range []string{"aa", "latency-5ms", "cpu-100us", "cpu-400us", "leak-goroutine", "capacity-drop"} {
		cur := aa
		if variant != "aa" {
			if dirs, _ := filepath.Glob(filepath.Join("..", "..", "..", "bench", "recordings", "*", variant)); len(dirs) == 0 {
				continue // not recorded (yet): bench/record.sh with VARIANTS
			}
			cur = recordings(b, variant)
		}
		for _, pool := range []string{"all", "valid"} {
			base, current := aa, cur
			if pool == "valid" {
				base, current = validOnly(aa), validOnly(cur)
			}
			b.Run(fmt.Sprintf("%s/%s", variant, pool), func(b *testing.B) {
				if len(base) < runs || len(current) < runs || (variant == "aa" && len(base) < 2*runs) {
					b.Skipf("%d base and %d current runs: too few for %d-vs-%d", len(base), len(current), runs, runs)
				}
				var c counts
				for b.Loop() {
					c = counts{}
					for i := range draws {
						rng := rand.New(rand.NewPCG(uint64(i), 7))
						bs, cs := draw(rng, base, current, runs, variant == "aa")
						res, err := Compare(bs, cs, DefaultThresholds())
						if err != nil {
							b.Fatal(err)
						}
						c.add(res)
					}
				}
				c.report(b, draws)
				b.ReportMetric(float64(len(base)), "base-runs")
				b.ReportMetric(float64(len(current)), "current-runs")
			})
		}
	}
}

// draw picks n base and n current runs at random; for an A/A the two sets are disjoint.
func draw(rng *rand.Rand, base, current []Input, n int, disjoint bool) (bs, cs []Input) {
	bi := rng.Perm(len(base))
	for _, i := range bi[:n] {
		bs = append(bs, base[i])
	}
	if disjoint {
		for _, i := range bi[n : 2*n] {
			cs = append(cs, base[i])
		}
		return bs, cs
	}
	for _, i := range rng.Perm(len(current))[:n] {
		cs = append(cs, current[i])
	}
	return bs, cs
}

func validOnly(in []Input) []Input {
	var out []Input
	for _, i := range in {
		ok := true
		for _, s := range i.Run.Scenarios {
			if s.Verdict == summary.Invalid {
				ok = false
			}
		}
		if ok {
			out = append(out, i)
		}
	}
	return out
}

type counts struct{ pass, flagged, regression, unjudged, nofamily int }

func (c *counts) add(r Result) {
	switch r.Outcome {
	case OK:
		c.pass++
	case Unjudged:
		c.unjudged++
	default:
		c.flagged++
	}
	if len(r.Regressions) > 0 {
		c.regression++
	}
	for _, s := range r.Scenarios {
		for _, m := range s.Metrics {
			demoted := strings.Contains(m.Why, "not significant once every metric") &&
				m.ChangePct != nil && (*m.ChangePct > 0) == m.HigherIsWorse // a worse change, not a better one
			if m.Verdict == Worse || demoted {
				c.nofamily++
				return
			}
		}
	}
}

func (c counts) report(b *testing.B, n int) {
	pct := func(k int) float64 { return 100 * float64(k) / float64(n) }
	b.ReportMetric(pct(c.pass), "pass-%")
	b.ReportMetric(pct(c.flagged), "flagged-%")
	b.ReportMetric(pct(c.regression), "regression-%")
	b.ReportMetric(pct(c.unjudged), "unjudged-%")
	b.ReportMetric(pct(c.nofamily), "nofamily-%")
}
