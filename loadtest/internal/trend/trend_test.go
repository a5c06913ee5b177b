package trend

import (
	"math"
	"math/rand/v2"
	"testing"
)

// line returns n points evenly over [0, span] on y = a + b·x plus noise(i).
func line(n int, span, a, b float64, noise func(i int) float64) []Point {
	pts := make([]Point, n)
	for i := range pts {
		x := span * (float64(i) + 0.5) / float64(n)
		pts[i] = Point{X: x, Y: a + b*x + noise(i)}
	}
	return pts
}

func TestTrendCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gauss := func(sd float64) func(int) float64 { return func(int) float64 { return sd * rng.NormFloat64() } }
	none := func(int) float64 { return 0 }
	// A sawtooth: a cycle every 4 windows, 10 high; its slope over whole cycles is 0.
	saw := func(i int) float64 { return 10 * float64(i%4) / 3 }
	tests := []struct {
		name     string
		pts      []Point
		limit    float64
		want     Verdict
		slopeMin float64 // the fitted slope must lie in [slopeMin, slopeMax]
		slopeMax float64
	}{
		{"exact line above the limit", line(30, 0.5, 1, 2, none), 1, Above, 2, 2},
		{"exact line below the limit", line(30, 0.5, 1, 2, none), 3, Below, 2, 2},
		{"flat and noisy, long: below", line(30, 0.5, 100, 0, gauss(1)), 16, Below, -8, 8},
		{"leak of 1400/h in noise: above", line(30, 0.06, 50, 1400, gauss(2)), 64, Above, 1200, 1600},
		{"sawtooth with a flat floor: below", line(32, 0.5, 20, 0, saw), 16, Below, -2, 2},
		{"flat, too short: the interval holds the limit", line(30, 0.01, 100, 0, gauss(1)), 50, Unsure, -400, 400},
		{"one outlier window does not move it", append(line(29, 0.5, 10, 0, none), Point{0.49, 1e6}), 1, Below, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := TheilSen(tt.pts, Z95)
			if !ok {
				t.Fatal("no fit")
			}
			if f.Low > f.Slope || f.Slope > f.High {
				t.Fatalf("slope %g outside its interval [%g, %g]", f.Slope, f.Low, f.High)
			}
			if f.Slope < tt.slopeMin || f.Slope > tt.slopeMax {
				t.Errorf("slope %g, want in [%g, %g]", f.Slope, tt.slopeMin, tt.slopeMax)
			}
			if got := Judge(f, tt.limit); got != tt.want {
				t.Errorf("Judge(limit %g) of %+v = %v, want %v", tt.limit, f, got, tt.want)
			}
			if tt.want == Unsure && !(Needed(f, tt.limit) > f.Span) {
				t.Errorf("Needed = %g for a span of %g that could not tell", Needed(f, tt.limit), f.Span)
			}
		})
	}
	t.Run("the intercept of an exact line", func(t *testing.T) {
		f, _ := TheilSen(line(10, 1, 7, -3, none), Z95)
		if math.Abs(f.Intercept-7) > 1e-9 || math.Abs(f.Low+3) > 1e-9 || math.Abs(f.High+3) > 1e-9 {
			t.Errorf("fit %+v, want intercept 7 and slope -3 exactly", f)
		}
	})
	t.Run("too few points", func(t *testing.T) {
		if _, ok := TheilSen(line(MinPoints-1, 1, 0, 1, none), Z95); ok {
			t.Error("a fit from too few points")
		}
	})
}

// TestTrendCoverage: on flat noise the 95 % interval holds the true slope (0) in about 95 % of
// runs, and a limit of twice the interval's typical half-width is rarely judged Above: the
// interval is neither too narrow (false leaks) nor much too wide.
func TestTrendCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const runs = 2000
	covered, halfSum := 0, 0.0
	for range runs {
		f, _ := TheilSen(line(30, 1, 0, 0, func(int) float64 { return rng.NormFloat64() }), Z95)
		if f.Low <= 0 && 0 <= f.High {
			covered++
		}
		halfSum += (f.High - f.Low) / 2
	}
	share := float64(covered) / runs
	if share < 0.93 || share > 0.985 {
		t.Errorf("interval held the true slope in %.1f%% of %d runs, want about 95%%", 100*share, runs)
	}
	// OLS's standard error here is 1/√(Σ(x−x̄)²) ≈ 0.63, so a 95 % half-width ≈ 1.24; Theil–Sen
	// is a little less efficient on Gaussian noise.
	if half := halfSum / runs; half < 1.1 || half > 1.8 {
		t.Errorf("mean half-width %.2f, want near 1.3", half)
	}
}

func TestWindows(t *testing.T) {
	xs := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 20}
	ys := []float64{5, 3, 4, 9, 9, 1, 2, 8, 7, 100}
	got := Windows(xs, ys, 0, 10, 5, Floor) // windows of 2; x=20 is outside; window [8,10) has x=8
	want := []Point{{1, 3}, {3, 4}, {5, 1}, {7, 2}, {9, 7}}
	if len(got) != len(want) {
		t.Fatalf("Windows = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Windows = %v, want %v", got, want)
		}
	}
	if q := Quantile([]float64{5, 1, 4, 2, 3}, 0.99); q != 5 {
		t.Errorf("p99 of 1..5 = %g, want 5", q)
	}
}
