package compare

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// BenchmarkRealRuns measures compare on real run-to-run noise: the runs bench/record.sh
// recorded (quick profile, interleaved). For each variant it draws seeded random 4-vs-4
// comparisons, base from the unchanged runs recorded in the same session and current from the
// variant's (for "aa", two disjoint sets of the session's unchanged runs), and reports, per
// recorded session, the share of comparisons by outcome:
//
//	pass-%        exit 0
//	flagged-%     exit 1 (REGRESSION or FAIL): a false alarm for aa, a detection for a fault
//	regression-%  of which a metric judged worse by the statistics (aa: the statistical false alarms)
//	unjudged-%    exit 2, CANNOT JUDGE (a run had an INVALID scenario) or INCONCLUSIVE
//	nofamily-%    comparisons with a metric judged worse before the family-wise correction
//	expected-%    comparisons that caught the variant by what it changed (expected below):
//	              the metric it moves judged worse, or for the leak a correctness failure;
//	              trickle-leak has none: no quick run can see it, so its flagged-% should be aa's
//
// and, per variant, the median over its runs and over its base runs of the figures each fault
// moves (steady p50, the server's CPU per request in the ramp's step held for it and at
// 3200 req/s, the capacity), so that the size of each injected change is measured.
//
// "all" draws from every recorded run; "valid" only from runs without an INVALID scenario, as
// make regress's re-runs of INVALID rounds give it.
//
//	go test ./loadtest/internal/compare -run '^$' -bench RealRuns -benchtime 1x
func BenchmarkRealRuns(b *testing.B) {
	sessions, _ := filepath.Glob(filepath.Join("..", "..", "..", "bench", "recordings", "*"))
	for _, session := range sessions {
		b.Run(filepath.Base(session), func(b *testing.B) { realRuns(b, session) })
	}
}

// realRuns is BenchmarkRealRuns on one session's runs: unchanged runs of another commit and
// hour are not an A/A pair.
func realRuns(b *testing.B, session string) {
	const draws, runs = 300, 4
	aa, err := LoadSide(filepath.Join(session, "aa"))
	if err != nil {
		b.Fatal(err)
	}
	for _, variant := range []string{"aa", "latency-5ms", "cpu-60us", "leak-goroutine", "capacity-drop", "cpu-2ms", "trickle-leak"} {
		base, cur := aa, aa
		if variant != "aa" {
			dir := filepath.Join(session, variant)
			if _, err := os.Stat(dir); err != nil {
				continue // not recorded in this session: bench/record.sh with VARIANTS
			}
			if cur, err = LoadSide(dir); err != nil {
				b.Fatal(err)
			}
		}
		for _, pool := range []string{"all", "valid"} {
			base, current := base, cur
			if pool == "valid" {
				base, current = validOnly(base), validOnly(cur)
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
						c.add(res, expected[variant])
					}
				}
				c.report(b, draws)
				reportFigures(b, current, "")
				reportFigures(b, base, "base-")
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

// expected says whether a comparison caught a variant by what it changes.
var expected = map[string]func(Result) bool{
	"latency-5ms":    worse("steady", "p50_ms"),
	"cpu-60us":       worse("ramp", "server_cpu_ratio"),
	"capacity-drop":  worse("ramp", "capacity_rps"),
	"cpu-2ms":        worse("ramp", "capacity_rps"),
	"leak-goroutine": func(r Result) bool { return len(r.Failures) > 0 },
}

func worse(scenario, metric string) func(Result) bool {
	return func(r Result) bool {
		for _, f := range r.Regressions {
			if f.Scenario == scenario && f.Metric == metric {
				return true
			}
		}
		return false
	}
}

// reportFigures reports the medians over runs of the figures the faults move, each unit
// prefixed (base- for the unchanged runs a variant is drawn against).
func reportFigures(b *testing.B, runs []Input, prefix string) {
	figures := map[string]func(summary.Scenario) (float64, bool){
		"steady-p50-ms": func(s summary.Scenario) (float64, bool) { return s.Latency.P50, s.Name == "steady" },
		"cpu-us-at-3200": func(s summary.Scenario) (float64, bool) { // the server's, in the ramp's 3200 req/s step
			if s.Ramp == nil {
				return 0, false
			}
			for _, st := range s.Ramp.Steps {
				if st.Rate == 3200 && !st.Retried {
					return st.CPUPerRequestUs, st.CPUPerRequestUs > 0
				}
			}
			return 0, false
		},
		"cpu-us-held": func(s summary.Scenario) (float64, bool) { // the server's, in the step held for the CPU
			if s.Ramp == nil {
				return 0, false
			}
			for _, st := range s.Ramp.Steps {
				if st.CPUHold && !st.Retried {
					return st.CPUPerRequestUs, st.CPUPerRequestUs > 0
				}
			}
			return 0, false
		},
		"ramp-capacity": func(s summary.Scenario) (float64, bool) {
			if s.Ramp == nil {
				return 0, false
			}
			return s.Ramp.CapacityRate, true
		},
	}
	for unit, f := range figures {
		var v []float64
		for _, in := range runs {
			for _, s := range in.Run.Scenarios {
				if x, ok := f(s); ok {
					v = append(v, x)
				}
			}
		}
		if len(v) > 0 {
			slices.Sort(v)
			b.ReportMetric(v[len(v)/2], prefix+unit)
		}
	}
}

type counts struct{ pass, flagged, regression, unjudged, nofamily, expected int }

func (c *counts) add(r Result, caught func(Result) bool) {
	if caught != nil && caught(r) {
		c.expected++
	}
	switch r.Outcome {
	case OK:
		c.pass++
	case Unjudged, Underpowered:
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
	b.ReportMetric(pct(c.expected), "expected-%")
}
