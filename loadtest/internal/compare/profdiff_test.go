package compare

import (
	"path/filepath"
	"strings"
	"testing"
)

// recordings returns the runs bench/record.sh recorded for a variant (real quick-profile runs
// of one commit, docs/compare.md).
func recordings(t testing.TB, variant string) []Input {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("..", "..", "..", "bench", "recordings", "*", variant))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no recordings of %s under bench/recordings (bench/record.sh makes them): %v", variant, err)
	}
	in, err := LoadSide(strings.Join(dirs, ","))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestProfileDiffNamesTheBurningFunction checks that, on real runs of a server with
// BENCH_EXTRA_CPU, the function that burns the CPU tops the flat list; an A/A diff of unchanged
// runs must not name it at all (the check fails when the diff shows noise rather than the change).
func TestProfileDiffNamesTheBurningFunction(t *testing.T) {
	const burner = "/server/internal/httpapi.burnCPU"
	aa := recordings(t, "aa")
	tests := []struct {
		name          string
		base, current []Input
		wantTop       bool
	}{
		{"BENCH_EXTRA_CPU=2ms", aa, recordings(t, "cpu-2ms"), true},
		{"A/A", aa[:len(aa)/2], aa[len(aa)/2:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, merged, err := DiffProfiles(tt.base, tt.current)
			if err != nil || d == nil {
				t.Fatalf("DiffProfiles: %v, %v", d, err)
			}
			if merged[0] == nil || merged[1] == nil || d.TotalUs[0] <= 0 {
				t.Fatalf("no merged profiles or no CPU in base: %+v", d)
			}
			top := len(d.Flat) > 0 && strings.HasSuffix(d.Flat[0].Name, burner)
			if top != tt.wantTop {
				t.Errorf("burnCPU on top of the flat list: %v, want %v; flat list: %+v", top, tt.wantTop, d.Flat)
			}
			// These recordings predate the ramp's held-step profile: steady's are diffed.
			if d.Scenario != "steady" || d.Runs[0] != len(tt.base) || d.Runs[1] != len(tt.current) {
				t.Errorf("merged %v profiles of %s, want %d+%d of steady", d.Runs, d.Scenario, len(tt.base), len(tt.current))
			}
			if d.Samples[0] <= 0 || d.Samples[1] <= 0 {
				t.Errorf("samples %v: the diff must say what it rests on", d.Samples)
			}
		})
	}
}

// TestServerCPURatioCatchesExtraCPU checks that, on real recorded runs, 60 µs of CPU burnt per
// request (+27 % at 3200 req/s) and 120 µs (+51 %) make the ramp's server CPU ratio worse in the
// first four runs of each side; four unchanged runs against four others are not worse, and say
// they could not have seen a change of the 10 % limit (4 a side see about 20 % at this spread).
func TestServerCPURatioCatchesExtraCPU(t *testing.T) {
	aa := recordings(t, "aa")
	tests := []struct {
		name          string
		base, current []Input
		want          Verdict
	}{
		{"BENCH_EXTRA_CPU=60us", aa[:4], recordings(t, "cpu-60us")[:4], Worse},
		{"BENCH_EXTRA_CPU=120us", aa[:4], recordings(t, "capacity-drop")[:4], Worse},
		{"A/A", aa[:4], aa[4:8], Inconclusive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Compare(tt.base, tt.current, DefaultThresholds())
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range res.Scenarios {
				for _, m := range s.Metrics {
					if s.Name == "ramp" && m.Metric == "server_cpu_ratio" {
						if m.Verdict != tt.want {
							t.Errorf("ramp server_cpu_ratio: %s (%s), want %s", m.Verdict, m.Why, tt.want)
						}
						return
					}
				}
			}
			t.Error("no ramp server_cpu_ratio in the comparison")
		})
	}
}
