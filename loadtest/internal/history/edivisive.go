package history

import (
	"math"
	"math/rand/v2"
	"sort"
)

// ChangePoint is a place in a series where its level changed: the values from Index on differ
// from those before it.
type ChangePoint struct {
	Index int     `json:"index"` // the first point after the change
	P     float64 `json:"p"`     // permutation test p-value of the split
	Stat  float64 `json:"stat"`  // the E-divisive statistic of the split
}

// Detector finds change points with E-divisive means (Matteson & James, 2014), the method of
// MongoDB's performance CI and of Apache Otava (Hunter): the split of a segment that maximises
// the energy distance between its two sides, accepted when a permutation test says a split
// that large is unlikely in the segment's values shuffled, then the same within each side,
// until no split is significant. It assumes nothing about the distribution, and a level change
// of any size counts once it stands out from the series' own noise.
type Detector struct {
	Alpha        float64 `json:"alpha"`        // a split is kept when its p-value is below it
	Permutations int     `json:"permutations"` // shuffles per test; the smallest p is 1/(Permutations+1)
	MinSize      int     `json:"min_size"`     // fewest points on either side of a split
	Seed         uint64  `json:"seed"`         // the shuffles' seed: the same series gives the same change points
}

// DefaultDetector is what loadtest history uses unless told otherwise.
func DefaultDetector() Detector {
	return Detector{Alpha: 0.01, Permutations: 999, MinSize: 3, Seed: 1}
}

// Find returns the change points of x in index order. NaN values must have been removed.
func (d Detector) Find(x []float64) []ChangePoint {
	rng := rand.New(rand.NewPCG(d.Seed, uint64(len(x))))
	var found []ChangePoint
	segs := [][2]int{{0, len(x)}}
	for {
		// The segment whose best split is strongest is tested first, as E-divisive does.
		best, bestSeg, bestTau := math.Inf(-1), -1, 0
		for i, s := range segs {
			tau, q := d.split(x[s[0]:s[1]], nil)
			if tau > 0 && q > best {
				best, bestSeg, bestTau = q, i, tau
			}
		}
		if bestSeg < 0 {
			break
		}
		s := segs[bestSeg]
		p := d.pValue(x[s[0]:s[1]], best, rng)
		if p >= d.Alpha {
			break
		}
		cut := s[0] + bestTau
		found = append(found, ChangePoint{Index: cut, P: p, Stat: best})
		segs = append(append(segs[:bestSeg:bestSeg], [2]int{s[0], cut}, [2]int{cut, s[1]}), segs[bestSeg+1:]...)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Index < found[j].Index })
	return found
}

// pValue is the share of shuffles of x whose best split is at least q (counting x itself).
func (d Detector) pValue(x []float64, q float64, rng *rand.Rand) float64 {
	y := append([]float64(nil), x...)
	buf := make([]float64, (len(y)+1)*(len(y)+1))
	over := 1
	for range d.Permutations {
		rng.Shuffle(len(y), func(i, j int) { y[i], y[j] = y[j], y[i] })
		if _, qp := d.split(y, buf); qp >= q {
			over++
		}
	}
	return float64(over) / float64(d.Permutations+1)
}

// split returns the index τ that maximises the scaled energy distance between x[:τ] and x[τ:κ]
// over every end κ, as Matteson & James's E-divisive does,
//
//	Q(τ,κ) = m·k/(m+k) · ( 2/(m·k)·Σ|a−b| − 1/C(m,2)·Σ|a−a'| − 1/C(k,2)·Σ|b−b'| ),
//
// with m = τ and k = κ−τ at least MinSize, and Q there; τ = 0 when x is too short to split. With
// κ fixed at the end, a level that comes back (low, high, low) is split as lows against a mix
// and may not stand out. The within-segment sums of every segment are tabulated first, so a
// split costs O(n²); buf is reused for them when it is large enough.
func (d Detector) split(x, buf []float64) (int, float64) {
	n := len(x)
	minSize := max(d.MinSize, 2)
	if n < 2*minSize {
		return 0, 0
	}
	// within(a, b) = Σ|x_i − x_j| over a ≤ i < j < b.
	w := buf[:0]
	if cap(w) < (n+1)*(n+1) {
		w = make([]float64, (n+1)*(n+1))
	}
	w = w[:(n+1)*(n+1)]
	within := func(a, b int) float64 { return w[a*(n+1)+b] }
	for b := 1; b <= n; b++ {
		var toNew float64 // Σ|x_i − x[b−1]| over a ≤ i < b−1
		w[(b-1)*(n+1)+b-1] = 0
		for a := b - 1; a >= 0; a-- {
			if a < b-1 {
				toNew += math.Abs(x[a] - x[b-1])
			}
			w[a*(n+1)+b] = within(a, b-1) + toNew
		}
	}
	bestTau, best := 0, math.Inf(-1)
	for tau := minSize; tau <= n-minSize; tau++ {
		m := float64(tau)
		left := within(0, tau) / (m * (m - 1) / 2)
		for kappa := tau + minSize; kappa <= n; kappa++ {
			k := float64(kappa - tau)
			right := within(tau, kappa)
			across := within(0, kappa) - within(0, tau) - right
			e := 2*across/(m*k) - left - right/(k*(k-1)/2)
			if q := m * k / (m + k) * e; q > best {
				bestTau, best = tau, q
			}
		}
	}
	return bestTau, best
}
