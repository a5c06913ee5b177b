package history

import (
	"math/rand/v2"
	"testing"
)

// noisy is n values of N(0, 1) noise plus, from each step's index on, its size.
func noisy(seed uint64, n int, steps map[int]float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 5))
	x := make([]float64, n)
	level := 0.0
	for i := range x {
		level += steps[i]
		x[i] = level + rng.NormFloat64()
	}
	return x
}

// TestFindSteps checks that a known step in noisy series is found at its index with p < α; two
// steps are both found; a flat noisy series of any length has none.
func TestFindSteps(t *testing.T) {
	d := DefaultDetector()
	tests := []struct {
		name  string
		x     []float64
		want  []int
		exact bool // the index must be exact; else within one point (noise can move a point across)
	}{
		{"step of 8σ in the middle of 30", noisy(1, 30, map[int]float64{15: 8}), []int{15}, true},
		{"step of 4σ in the middle of 30", noisy(1, 30, map[int]float64{15: 4}), []int{15}, false},
		{"step of 4σ early in 30", noisy(2, 30, map[int]float64{6: 4}), []int{6}, true},
		{"step down of 4σ late in 24", noisy(3, 24, map[int]float64{19: -4}), []int{19}, true},
		{"step of 2σ in 40", noisy(4, 40, map[int]float64{20: 2}), []int{20}, false},
		{"two steps", noisy(5, 45, map[int]float64{15: 4, 30: -4}), []int{15, 30}, true},
		{"a level that comes back: 6 low, 6 high by 8σ, 6 low", noisy(10, 18, map[int]float64{6: 8, 12: -8}), []int{6, 12}, false},
		{"a 16-run A/A sequence", noisy(6, 16, nil), nil, true},
		{"a flat series of 60", noisy(7, 60, nil), nil, true},
		{"a flat series of 100", noisy(8, 100, nil), nil, true},
		{"too short to split", noisy(9, 5, map[int]float64{3: 10}), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := d.Find(tt.x)
			if len(got) != len(tt.want) {
				t.Fatalf("change points %+v, want at %v", got, tt.want)
			}
			for i, cp := range got {
				off := cp.Index - tt.want[i]
				if off != 0 && (tt.exact || off < -1 || off > 1) {
					t.Errorf("change point at %d, want %d", cp.Index, tt.want[i])
				}
				if cp.P >= d.Alpha {
					t.Errorf("change point at %d has p=%g ≥ α=%g", cp.Index, cp.P, d.Alpha)
				}
			}
		})
	}
}

// TestFlatFalseRate checks that, over many flat noisy series, the share with any change point
// stays near α (the hierarchical procedure stops at the first split that is not significant).
func TestFlatFalseRate(t *testing.T) {
	d := DefaultDetector()
	d.Permutations = 199
	const series = 200
	found := 0
	for i := range series {
		if len(d.Find(noisy(uint64(100+i), 20, nil))) > 0 {
			found++
		}
	}
	if rate := float64(found) / series; rate > 3*d.Alpha+0.01 {
		t.Errorf("change points in %.1f%% of flat series, want about %.0f%%", rate*100, d.Alpha*100)
	}
}
