package compare

import (
	"math"
	"math/rand/v2"
)

// A comparison tests about 25 metrics at once; at α = 0.05 each, some metric of an unchanged
// server would look "significant" in a good share of comparisons. The family-wise test bounds the
// chance that ANY metric is flagged when nothing changed.
//
// It is Westfall and Young's max-T permutation test with the run as the unit. Each run gives
// one value per metric (the median of its windows, or its per-run figure). Under "nothing
// changed" the base/current labels of the runs are exchangeable, so compare relabels the runs
// every possible way (or 20 000 random ways when there are more), computes each metric's Welch t
// statistic under every relabelling, and keeps the largest |t| over all metrics. A metric's
// adjusted p is the share of relabellings whose largest |t| reaches the metric's observed |t|.
// Relabelling whole runs keeps every correlation intact: between the windows of one run (a run
// that drew a slow moment is slow in all of them) and between metrics (p50 and p99 move
// together), which Holm's or Bonferroni's corrections would treat as independent tests and pay
// for with power: with 4 runs a side a rank test's smallest p-value is 0.029, which no
// Bonferroni-type correction over 25 metrics can accept, while the largest-|t| distribution
// reaches 2/70 = 0.029 for the whole family.

// maxRelabellings bounds the relabellings enumerated; beyond it, a seeded random sample is used.
const maxRelabellings = 20000

// familyTest is one metric's per-run values, in the family's run order (base runs, then current
// runs), NaN where the run gives no value.
type familyTest struct {
	values []float64
	sdMin  float64 // floor on each side's standard deviation: the metric's absolute limit / 2
}

// familyP returns each test's family-wise adjusted p-value. nBase is how many of the runs are
// base runs.
func familyP(tests []familyTest, nBase int) []float64 {
	out := make([]float64, len(tests))
	if len(tests) == 0 {
		return out
	}
	n := len(tests[0].values)
	observed := make([]float64, len(tests))
	isBase := make([]bool, n)
	for i := range nBase {
		isBase[i] = true
	}
	for j, t := range tests {
		observed[j] = math.Abs(welchT(t, isBase))
	}
	var maxima []float64
	relabel(n, nBase, func(lab []bool) {
		m := 0.0
		for _, t := range tests {
			m = math.Max(m, math.Abs(welchT(t, lab)))
		}
		maxima = append(maxima, m)
	})
	for j := range tests {
		hits := 0
		for _, m := range maxima {
			if m >= observed[j]*(1-1e-9) { // a tie counts against the observed labelling
				hits++
			}
		}
		out[j] = float64(hits) / float64(len(maxima))
	}
	return out
}

// relabel calls f with every way to mark nBase of n runs as base (the observed labelling among
// them), or with the observed one plus a seeded random sample when there are too many.
func relabel(n, nBase int, f func(isBase []bool)) {
	lab := make([]bool, n)
	if binomial(n, nBase) <= maxRelabellings {
		var rec func(i, left int)
		rec = func(i, left int) {
			if left == 0 {
				f(lab)
				return
			}
			if n-i < left {
				return
			}
			lab[i] = true
			rec(i+1, left-1)
			lab[i] = false
			rec(i+1, left)
		}
		rec(0, nBase)
		return
	}
	for i := range nBase {
		lab[i] = true
	}
	f(lab)
	rng := rand.New(rand.NewPCG(uint64(n), uint64(nBase))) // seeded: the same input gives the same report
	for range maxRelabellings - 1 {
		rng.Shuffle(n, func(i, j int) { lab[i], lab[j] = lab[j], lab[i] })
		f(lab)
	}
}

// welchT is (mean current − mean base) / its standard error, over the runs with a value; each
// side's standard deviation is at least sdMin, so that two sides that happen to have no spread
// (a capacity of 400 in every run) do not give an infinite t for a change below the metric's
// limit. A side with fewer than two values gives 0: no evidence.
func welchT(t familyTest, isBase []bool) float64 {
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
		return 0
	}
	mb, mc := sb/nb, sc/nc
	vb := math.Max((qb-nb*mb*mb)/(nb-1), t.sdMin*t.sdMin)
	vc := math.Max((qc-nc*mc*mc)/(nc-1), t.sdMin*t.sdMin)
	se := math.Sqrt(vb/nb + vc/nc)
	if se == 0 {
		return 0 // no floor and no spread: both sides identical in every run
	}
	return (mc - mb) / se
}

func binomial(n, k int) int {
	r := 1
	for i := 1; i <= k; i++ {
		r = r * (n - k + i) / i
		if r > math.MaxInt32 {
			return math.MaxInt32
		}
	}
	return r
}
