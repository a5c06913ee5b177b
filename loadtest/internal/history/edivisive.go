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
			tau, q := d.split(x[s[0]:s[1]])
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
	over := 1
	for range d.Permutations {
		rng.Shuffle(len(y), func(i, j int) { y[i], y[j] = y[j], y[i] })
		if _, qp := d.split(y); qp >= q {
			over++
		}
	}
	return float64(over) / float64(d.Permutations+1)
}

// split returns the index τ that maximises the scaled energy distance between x[:τ] and x[τ:],
//
//	Q(τ) = m·k/(m+k) · ( 2/(m·k)·Σ|a−b| − 1/C(m,2)·Σ|a−a'| − 1/C(k,2)·Σ|b−b'| ),
//
// with m = τ and k = n−τ at least MinSize, and Q there; τ = 0 when x is too short to split.
// The three sums are updated as τ moves, so a split costs O(n²).
func (d Detector) split(x []float64) (int, float64) {
	n := len(x)
	minSize := max(d.MinSize, 2)
	if n < 2*minSize {
		return 0, 0
	}
	var across, left, right float64 // Σ|a−b| across τ, within the left, within the right
	for i := range n {
		for j := i + 1; j < n; j++ {
			right += math.Abs(x[i] - x[j])
		}
	}
	bestTau, best := 0, math.Inf(-1)
	for tau := 1; tau < n; tau++ {
		// x[tau−1] moves from the right side to the left.
		v := x[tau-1]
		var toLeft, toRight float64
		for i := 0; i < tau-1; i++ {
			toLeft += math.Abs(v - x[i])
		}
		for j := tau; j < n; j++ {
			toRight += math.Abs(v - x[j])
		}
		left += toLeft
		right -= toRight
		across += toRight - toLeft
		m, k := float64(tau), float64(n-tau)
		if tau < minSize || n-tau < minSize {
			continue
		}
		e := 2*across/(m*k) - left/(m*(m-1)/2) - right/(k*(k-1)/2)
		if q := m * k / (m + k) * e; q > best {
			bestTau, best = tau, q
		}
	}
	return bestTau, best
}
