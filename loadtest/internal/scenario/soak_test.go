package scenario

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
	"github.com/benchharness/benchharness/loadtest/internal/trend"
)

// quickSoak is -profile quick's soak: 2 min, 18 windows of 5 s after a 30 s warm-up. Its limits are
// the slopes a minute can resolve, not a production soak's (docs/harness.md, "Soak: verdicts on trends"): a leak
// has to be gross to show in a minute, and slow-leak's 4 KiB per request at 100 requests/s is
// about 1.4 GiB/h.
func quickSoak() Settings {
	s := short()
	s.Rate = 100
	s.Soak = SoakSettings{Duration: 2 * time.Minute, Warmup: 30 * time.Second, MemoryLimit: 200, CountLimit: 600, P99Drift: 10 * time.Second}
	return s
}

func soakFigure(sc summary.Scenario, name string) (summary.SoakResource, bool) {
	if sc.Soak == nil {
		return summary.SoakResource{}, false
	}
	for _, r := range sc.Soak.Resources {
		if r.Name == name {
			return r, true
		}
	}
	return summary.SoakResource{}, false
}

// TestSoakVerdicts runs a two-minute soak of the real server three times: healthy it PASSes,
// with slow-leak it FAILs naming the live heap and the RSS, and with sawtooth (memory that
// rises and falls back to its floor) it PASSes: the trend, not the level or the wobble, decides.
func TestSoakVerdicts(t *testing.T) {
	if testing.Short() {
		t.Skip("three two-minute soaks")
	}
	tests := []struct {
		name   string
		faults string // BENCH_FAULTS; "" healthy
		want   summary.Verdict
		named  []string // resources that must FAIL, and be named in the reasons
	}{
		{"healthy", "", summary.Pass, nil},
		{"slow-leak", "slow-leak", summary.Fail, []string{"heap_live", "rss"}},
		{"sawtooth", "sawtooth", summary.Pass, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env []string
			if tt.faults != "" {
				env = append(env, "BENCH_FAULTS="+tt.faults)
			}
			h := newHarness(t, quickSoak(), env...)
			sc := h.run(t, context.Background(), "soak")[0]
			if sc.Soak == nil || len(sc.Soak.Resources) != 8 {
				t.Fatalf("soak block %+v, want 8 resources", sc.Soak)
			}
			for _, r := range sc.Soak.Resources {
				var ys []string
				for _, p := range r.Series {
					ys = append(ys, strconv.FormatFloat(p.Value, 'g', 4, 64))
				}
				t.Logf("%-11s %-7s %s; windows %s", r.Name, r.Verdict, r.Reason, strings.Join(ys, " "))
			}
			if sc.Verdict != tt.want {
				t.Errorf("%s soak: %s (%s), want %s", tt.name, sc.Verdict, reasons(sc), tt.want)
			}
			for _, name := range tt.named {
				r, _ := soakFigure(sc, name)
				if r.Verdict != summary.Fail || !strings.Contains(reasons(sc), "soak: "+name+" trend") {
					t.Errorf("%s: %s %s; reasons %q: want it FAILed and named", tt.name, name, r.Verdict, reasons(sc))
				}
			}
			if tt.want == summary.Pass {
				for _, r := range sc.Soak.Resources {
					if r.Verdict != summary.Pass {
						t.Errorf("%s: %s %s (%s), want every resource PASS", tt.name, r.Name, r.Verdict, r.Reason)
					}
				}
			}
			// Every resource the items server exposes was read: none is "not available".
			if heap, _ := soakFigure(sc, "heap_live"); len(heap.Series) < trend.MinPoints || heap.Series[0].Value <= 0 {
				t.Errorf("heap_live series %+v: want a point per window", heap.Series)
			}
		})
	}
}

// TestJudgeTrend: a resource's verdict and its one line, from window points (X in ms).
func TestJudgeTrend(t *testing.T) {
	pts := func(slopePerHour, wobble float64) []trend.Point {
		var ps []trend.Point
		for i := range 12 {
			x := (float64(i) + 0.5) * 15000 // 15 s windows: a 3-minute judged span
			ps = append(ps, trend.Point{X: x, Y: 100 + slopePerHour*x/msPerHour + wobble*math.Sin(float64(i)*2.1)})
		}
		return ps
	}
	tests := []struct {
		name   string
		pts    []trend.Point
		want   summary.Verdict
		reason string
	}{
		{"flat", pts(0, 0.01), summary.Pass, "under the limit"},
		{"leak", pts(1000, 0.01), summary.Fail, "rss grows +1e+03 MiB/h"},
		{"noisy and short", pts(0, 2), summary.Invalid, "too short to tell"},
		{"too few windows", pts(0, 0)[:trend.MinPoints-1], summary.Invalid, "windows had readings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := judgeTrend(summary.SoakResource{Name: "rss", Unit: "MiB", LimitPerHour: 16}, tt.pts, 60000, time.Minute)
			if r.Verdict != tt.want || !strings.Contains(r.Reason, tt.reason) {
				t.Fatalf("%s: %q, want %s containing %q", r.Verdict, r.Reason, tt.want, tt.reason)
			}
			if len(r.Series) != len(tt.pts) || r.Series[0].OffsetMs != 60000+tt.pts[0].X {
				t.Errorf("series %+v: want the points, offset from the judged span's start", r.Series)
			}
			if tt.want == summary.Invalid && strings.Contains(r.Reason, "too short") && !strings.Contains(r.Reason, "run ≥ ") {
				t.Errorf("%q: want the length that would tell", r.Reason)
			}
		})
	}
	if n := soakWindows(SoakSettings{Duration: 30 * time.Minute, Warmup: 3 * time.Minute}); n != 30 {
		t.Errorf("30-minute soak: %d windows, want 30", n)
	}
	if n := soakWindows(SoakSettings{Duration: 4 * time.Minute, Warmup: time.Minute}); n != 30 {
		t.Errorf("4-minute soak: %d windows, want 30 of 6 s", n)
	}
	if n := soakWindows(SoakSettings{Duration: 2 * time.Minute, Warmup: 30 * time.Second}); n != 18 {
		t.Errorf("2-minute soak: %d windows, want 18 of 5 s", n)
	}
}
