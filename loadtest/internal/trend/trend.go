// Package trend judges whether a resource grows over a long run: a robust slope over windows
// of the run, with a confidence interval, compared with a limit.
//
// The method (docs/design/harness-evidence.md, "Soak: the trend method in full"): the judged span is cut into equal windows and each
// window is one point (its floor for a resource, its p99 for latency). The slope is Theil–Sen's,
// the median of the slopes between every pair of points, which a few odd windows (a GC pause, a
// sawtooth's peak) cannot drag. Its 95 % interval is Sen's (1968), from the distribution of
// Kendall's S under no trend: with N = n(n−1)/2 pairwise slopes sorted and
// C = z·√(n(n−1)(2n+5)/18), the interval runs from the ⌊(N−C)/2⌋-th to the ⌈(N+C)/2⌉+1-th
// slope. Ties are not corrected for, which widens the interval: it errs towards "cannot tell".
//
//	fit, ok := trend.TheilSen(points, trend.Z95)
//	v := trend.Judge(fit, limit)
//
// The interval assumes the windows' deviations from the line are independent; windows much
// longer than the resource's cycles (GC, a pool's idle timeout) make that close enough.
package trend

import (
	"math"
	"slices"
)

// Z95 is the normal quantile of a two-sided 95 % interval.
const Z95 = 1.959964

// Point is one window: X its middle (hours from the start of the judged span), Y its value.
type Point struct{ X, Y float64 }

// Fit is a Theil–Sen line: Y ≈ Intercept + Slope·X, with Slope's interval [Low, High].
type Fit struct {
	Slope, Low, High float64
	Intercept        float64 // median of Y − Slope·X
	N                int     // points
	Span             float64 // X range covered, in X's units
}

// MinPoints is the fewest points an interval can come from: with fewer, every pairwise slope
// lies inside C of the middle and the interval is unbounded.
const MinPoints = 6

// TheilSen fits pts (in any order) and gives Slope's two-sided interval at normal quantile z;
// false when there are fewer than MinPoints points or they all share one X.
func TheilSen(pts []Point, z float64) (Fit, bool) {
	n := len(pts)
	if n < MinPoints {
		return Fit{}, false
	}
	slopes := make([]float64, 0, n*(n-1)/2)
	for i := range pts {
		for j := i + 1; j < n; j++ {
			if dx := pts[j].X - pts[i].X; dx != 0 {
				slopes = append(slopes, (pts[j].Y-pts[i].Y)/dx)
			}
		}
	}
	if len(slopes) == 0 {
		return Fit{}, false
	}
	slices.Sort(slopes)
	f := Fit{Slope: median(slopes), N: n}
	nf := float64(n)
	big := float64(len(slopes))
	c := z * math.Sqrt(nf*(nf-1)*(2*nf+5)/18)
	lo := int(math.Floor((big-c)/2)) - 1 // 1-based rank to index
	hi := int(math.Ceil((big + c) / 2))  // rank (N+C)/2 + 1, as an index
	f.Low = slopes[max(lo, 0)]
	f.High = slopes[min(hi, len(slopes)-1)]
	if lo < 0 || hi > len(slopes)-1 {
		f.Low, f.High = math.Inf(-1), math.Inf(1) // too few points for this confidence
	}
	res := make([]float64, n)
	minX, maxX := pts[0].X, pts[0].X
	for i, p := range pts {
		res[i] = p.Y - f.Slope*p.X
		minX, maxX = min(minX, p.X), max(maxX, p.X)
	}
	slices.Sort(res)
	f.Intercept, f.Span = median(res), maxX-minX
	return f, true
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// Verdict is what a fit says of a limit on the slope.
type Verdict int

const (
	// Below: the interval lies under the limit; a growth of the limit's size is excluded.
	Below Verdict = iota
	// Above: the interval lies over the limit; growth within it is excluded.
	Above
	// Unsure: the interval holds the limit; the run was too short to tell.
	Unsure
)

// Judge compares f's interval with limit.
func Judge(f Fit, limit float64) Verdict {
	switch {
	case f.High < limit:
		return Below
	case f.Low > limit:
		return Above
	}
	return Unsure
}

// Needed estimates how long a span (in f.Span's units) would have told f's slope from limit:
// the interval narrows as the span grows, roughly as 1/span for a fixed number of windows of a
// noise that does not average out (as 1/span^1.5 when it does), so the conservative
// 1/span is assumed. +Inf when the slope sits on the limit or the interval is unbounded.
func Needed(f Fit, limit float64) float64 {
	half := (f.High - f.Low) / 2
	dist := math.Abs(limit - f.Slope)
	if dist == 0 || math.IsInf(half, 0) || f.Span <= 0 {
		return math.Inf(1)
	}
	return f.Span * max(1, half/dist)
}

// Windows cuts [from, to) into n equal windows and returns one point per window that has
// values: X its middle, measured from from (in the units of xs), Y agg of its values. xs and ys
// pair up; xs need not be sorted.
func Windows(xs, ys []float64, from, to float64, n int, agg func([]float64) float64) []Point {
	if n <= 0 || to <= from {
		return nil
	}
	width := (to - from) / float64(n)
	bins := make([][]float64, n)
	for i, x := range xs {
		if x < from || x >= to {
			continue
		}
		k := min(int((x-from)/width), n-1)
		bins[k] = append(bins[k], ys[i])
	}
	var out []Point
	for k, b := range bins {
		if len(b) > 0 {
			out = append(out, Point{X: (float64(k) + 0.5) * width, Y: agg(b)})
		}
	}
	return out
}

// Floor is a window's lowest value: a leak raises it, while spikes (in-flight requests, garbage
// not yet collected) leave it alone.
func Floor(v []float64) float64 { return slices.Min(v) }

// Quantile is the q-quantile of v (nearest rank), for a window's latency.
func Quantile(v []float64, q float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
