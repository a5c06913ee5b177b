package compare

import (
	"math"
	"sort"

	"github.com/aclements/go-moremath/stats"
)

// A comparison tests about 27 metrics at once; at α = 0.05 each, some metric of an unchanged
// server would look "significant" in a good share of comparisons. The family-wise test bounds the
// chance that ANY metric is flagged when nothing changed, with Holm's step-down method over the
// metrics of the comparison.
//
// Its per-metric test takes the run as the unit: each run gives one value per metric (the median
// of its windows, or its per-run figure), in logarithms, since the limits speak of relative
// change and latencies are skewed. Welch's t test compares them, because with 4 runs a side a
// rank test's smallest p-value is 0.029, which no Bonferroni-type correction over 27 tests can
// accept (Holm's first step needs 0.05 / 27 = 0.0019), while a t test reaches it when the runs
// of each side agree. A permutation max-T test lost to it on the recorded real runs: a discrete
// metric such as the ramp capacity separates perfectly under some relabellings, which caps
// every other metric's family-wise p (docs/design/compare.md has the detection rates).
//
// The tests are one-sided, in two families. The gate's error is a false "worse": the chance
// that some metric of an unchanged server is called worse. That family's tests ask only "is
// CURRENT worse?", and Holm over them bounds it at α; the "better" verdicts, which fail nothing,
// get a family of their own the same way. A two-sided test would spend half of each metric's
// share of α on improvements the gate does not act on, and with ~26 metrics that half is what
// a CPU change of the size the gate is for needs (docs/compare.md).

// familyTest is one metric's per-run values, in the comparison's run order (base runs, then
// current runs), NaN where the run gives no value.
type familyTest struct {
	values []float64
	// sdMin floors each side's standard deviation, so that two sides that happen to have no
	// spread (a capacity of 400 in every run) do not give an infinite t for a change the limits
	// call too small: half the metric's relative limit, in log units.
	sdMin float64
	// worse is the sign of a change for the worse: +1 when a higher value is worse (latency),
	// −1 when lower is (throughput, capacity).
	worse float64
	// spread is what the power of the comparison is computed from (power.go).
	spread spread
}

// Directions of a one-sided family.
const (
	towardsWorse  = 1.0
	towardsBetter = -1.0
)

// holmP returns each test's Holm-adjusted p-value, the per-test p-value coming from a one-sided
// Welch t test on the values as given, towards worse or better (dir); nBase is how many of the
// runs are base runs. A test whose sides have fewer than two values has p = 1 and still counts
// in the family.
func holmP(tests []familyTest, nBase int, dir float64) []float64 {
	n := len(tests)
	raw := make([]float64, n)
	var isBase []bool
	if n > 0 {
		isBase = make([]bool, len(tests[0].values))
		for i := range nBase {
			isBase[i] = true
		}
	}
	for j, t := range tests {
		tv, df := welch(t, isBase)
		if df <= 0 {
			raw[j] = 1
			continue
		}
		raw[j] = 1 - stats.TDist{V: df}.CDF(dir*t.worse*tv)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return raw[order[a]] < raw[order[b]] })
	adj := make([]float64, n)
	run := 0.0
	for k, j := range order {
		run = math.Max(run, math.Min(1, float64(n-k)*raw[j]))
		adj[j] = run
	}
	return adj
}

// welch is Welch's t and its degrees of freedom (0 when a side has fewer than two values).
func welch(t familyTest, isBase []bool) (float64, float64) {
	var nb, nc, sb, sc, qb, qc float64
	for i, v := range t.values {
		if math.IsNaN(v) {
			continue
		}
		if isBase[i] {
			nb, sb, qb = nb+1, sb+v, qb+v*v
		} else {
			nc, sc, qc = nc+1, sc+v, qc+v*v
		}
	}
	if nb < 2 || nc < 2 {
		return 0, 0
	}
	mb, mc := sb/nb, sc/nc
	vb := math.Max((qb-nb*mb*mb)/(nb-1), t.sdMin*t.sdMin) / nb
	vc := math.Max((qc-nc*mc*mc)/(nc-1), t.sdMin*t.sdMin) / nc
	if vb+vc == 0 {
		return 0, 0
	}
	df := (vb + vc) * (vb + vc) / (vb*vb/(nb-1) + vc*vc/(nc-1))
	return (mc - mb) / math.Sqrt(vb+vc), df
}
