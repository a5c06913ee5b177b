package contention

import (
	"math"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// TestNeighbourRule: the rule judges the window that holds the p99 and only when others ran
// there; a wait that is a small share of the judged p99, or our threads waiting for each
// other, moves nothing.
func TestNeighbourRule(t *testing.T) {
	// delay: the worst quarter second's delay per run of the backend, the rule's figure.
	win := func(start, p99, delay, foreign float64) summary.ContentionWindow {
		return summary.ContentionWindow{StartMs: start, Requests: 100, P99Ms: p99, ForeignCPUs: foreign, PeakDelayPerRunMs: [3]float64{0, delay, 0}}
	}
	tests := []struct {
		name     string
		windows  []summary.ContentionWindow
		judged   float64
		maxShare float64
		moved    bool
		at       float64
	}{
		{"quiet machine", []summary.ContentionWindow{win(0, 4, 0.05, 0.02), win(1000, 5, 0.08, 0.03)}, 5, 0.1, false, 1000},
		{"a nice loop ran but we did not wait", []summary.ContentionWindow{win(0, 5, 0.2, 0.98), win(1000, 6, 0.3, 0.97)}, 6, 0.1, false, 1000},
		{"busy loops made us wait", []summary.ContentionWindow{win(0, 20, 4, 1.2), win(1000, 40, 9, 1.1)}, 40, 0.1, true, 1000},
		{"the wait sits outside the p99's window", []summary.ContentionWindow{win(0, 40, 0.1, 0.1), win(1000, 8, 9, 1.5)}, 40, 0.1, false, 0},
		{"we waited for each other, nobody else ran", []summary.ContentionWindow{win(0, 40, 9, 0.01)}, 40, 0.1, false, 0},
		{"at the threshold", []summary.ContentionWindow{win(0, 10, 1.0001, 0.5)}, 10, 0.1, true, 0},
		{"just under it", []summary.ContentionWindow{win(0, 10, 0.99, 0.5)}, 10, 0.1, false, 0},

		{"not checked", []summary.ContentionWindow{win(0, 40, 30, 1.5)}, 40, 0, false, 0},
		{"no requests", []summary.ContentionWindow{{StartMs: 0, ForeignCPUs: 2, PeakDelayPerRunMs: [3]float64{9, 9, 9}}}, 40, 0.1, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := Neighbour(summary.Contention{Windows: tt.windows}, tt.judged, tt.maxShare)
			if n.Moved != tt.moved || n.WindowStartMs != tt.at || n.JudgedMs != tt.judged {
				t.Errorf("Neighbour = %+v, want moved %v in the window at %v ms", n, tt.moved, tt.at)
			}
		})
	}
}

// TestSummarise: a reading's span is split between the windows it overlaps; foreign CPU is the
// machine's busy time less ours; per-request wait is over the window's requests.
func TestSummarise(t *testing.T) {
	ms := time.Millisecond
	points := []Point{
		// 500–1000: all in window 0.
		{OffsetMs: 1000, SpanMs: 500, Wait: [roles]time.Duration{100 * ms, 0, 0}, Run: [roles]time.Duration{100 * ms, 0, 0}, Busy: 600 * ms, CPUs: 2},
		// 1500–2500: half in window 1, half in window 2 (outside the windows).
		{OffsetMs: 2500, SpanMs: 1000, Wait: [roles]time.Duration{0, 40 * ms, 60 * ms}, Run: [roles]time.Duration{0, 100 * ms, 100 * ms}, Busy: 1200 * ms, CPUs: 2},
	}
	windows := []summary.Window{{StartMs: 0, Requests: 10, P99: 3}, {StartMs: 1000, Requests: 20, P99: 4}}
	c := Summarise(points, windows)
	want := []summary.ContentionWindow{
		{StartMs: 0, ServerWaitMs: 100, RunMs: 100, Requests: 10, PerRequestWaitMs: 10, ForeignCPUs: 0.5, P99Ms: 3},
		{StartMs: 1000, DatabaseWaitMs: 20, HarnessWaitMs: 30, RunMs: 100, Requests: 20, PerRequestWaitMs: 2.5, ForeignCPUs: 0.5, P99Ms: 4},
	}
	for i, w := range want {
		if !close(c.Windows[i], w) {
			t.Errorf("window %d = %+v, want %+v", i, c.Windows[i], w)
		}
	}
	// Runs: 10 of the server's in window 0 (100 ms waited: 10 ms each); 4 of the database's
	// and 6 of the harness's, half in window 1.
	points[0].Slices, points[1].Slices = [roles]uint64{10, 0, 0}, [roles]uint64{0, 4, 6}
	c = Summarise(points, windows)
	if d := c.Windows[0].DelayPerRunMs; d != [3]float64{10, 0, 0} || c.Windows[0].PathDelayMs != 20 {
		t.Errorf("window 0: delay per run %v, path %v; want [10 0 0], 2×10 ms", d, c.Windows[0].PathDelayMs)
	}
	if d := c.Windows[1].DelayPerRunMs; d != [3]float64{0, 10, 10} || c.Windows[1].PathDelayMs != 30 {
		t.Errorf("window 1: delay per run %v, path %v; want [0 10 10], 10 + 2×10 ms", d, c.Windows[1].PathDelayMs)
	}
	// A histogram read over 1500–2500 ms belongs to the window that holds 2000 ms: none here.
	// One over 0–1000 ms to window 0.
	points[0].Sched, points[0].SchedFromMs = &Histogram{Bounds: []float64{0.001, 0.01, math.Inf(1)}, Counts: []uint64{50, 100, 100}}, 0
	points[1].Sched, points[1].SchedFromMs = &Histogram{Bounds: []float64{0.001, 0.01, math.Inf(1)}, Counts: []uint64{0, 0, 9}}, 1500
	if c := Summarise(points, windows); c.Windows[0].SchedP99Ms != 10 || c.Windows[1].SchedP99Ms != 0 || c.SchedLatency == nil || c.SchedLatency.P50Ms != 1 {
		t.Errorf("scheduling p99 by window %v, %v; overall %+v; want 10 ms in window 0 only, p50 1 ms", c.Windows[0].SchedP99Ms, c.Windows[1].SchedP99Ms, c.SchedLatency)
	}
	// The peak is, per role, the worst reading's delay per run: window 0 holds only point 0,
	// window 1 only point 1; a quieter reading beside point 1 does not lower it.
	quiet := Point{OffsetMs: 2000, SpanMs: 250, Wait: [roles]time.Duration{ms, ms, ms}, Run: [roles]time.Duration{ms, ms, ms}, Slices: [roles]uint64{10, 10, 10}}
	if c := Summarise(append(points, quiet), windows); c.Windows[0].PeakDelayPerRunMs != [3]float64{10, 0, 0} || c.Windows[1].PeakDelayPerRunMs != [3]float64{0.1, 10, 10} {
		t.Errorf("peak delay per run %v, %v; want [10 0 0], [0.1 10 10] ms", c.Windows[0].PeakDelayPerRunMs, c.Windows[1].PeakDelayPerRunMs)
	}
	if h := Summarise(points, windows).Windows[0].Sched; h == nil || h.Total != 100 || len(h.BoundsMs) != 2 || h.BoundsMs[1] != 10 || h.Counts[0] != 50 {
		t.Errorf("window 0's histogram %+v; want 100 wake-ups, 50 ≤ 1 ms, bounds 1 and 10 ms without +Inf", h)
	}
	if math.Abs(c.PerRequestWaitMs-150.0/30) > 1e-9 || math.Abs(c.Share-150.0/350) > 1e-9 {
		t.Errorf("per request %.3f ms, share %.3f; want %.3f, %.3f", c.PerRequestWaitMs, c.Share, 150.0/30, 150.0/350)
	}
}

func close(a, b summary.ContentionWindow) bool {
	eq := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	return eq(a.StartMs, b.StartMs) && eq(a.ServerWaitMs, b.ServerWaitMs) && eq(a.DatabaseWaitMs, b.DatabaseWaitMs) &&
		eq(a.HarnessWaitMs, b.HarnessWaitMs) && eq(a.RunMs, b.RunMs) && a.Requests == b.Requests &&
		eq(a.PerRequestWaitMs, b.PerRequestWaitMs) && eq(a.ForeignCPUs, b.ForeignCPUs) && eq(a.P99Ms, b.P99Ms)
}

// TestQuantile: the upper bound of the bucket holding the quantile, the largest finite bound
// past the last.
func TestQuantile(t *testing.T) {
	h := &Histogram{Bounds: []float64{0.001, 0.01, math.Inf(1)}, Counts: []uint64{90, 99, 100}}
	for _, tt := range []struct{ q, want float64 }{{0.5, 1}, {0.95, 10}, {0.99, 10}, {1, 10}} {
		if got := h.Quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("Quantile(%v) = %v ms, want %v", tt.q, got, tt.want)
		}
	}
	if got := (*Histogram)(nil).Quantile(0.99); got != 0 {
		t.Errorf("nil Quantile = %v, want 0", got)
	}
}

// TestSlowWakeups: the share beyond the first bound at or above the wait, so a straddling
// bucket is not counted; the +Inf bucket's wake-ups count as slow.
func TestSlowWakeups(t *testing.T) {
	// 1000 wake-ups: 900 ≤ 0.1 ms, 980 ≤ 1 ms, 995 ≤ 4 ms, 5 past the last finite bound.
	h := &summary.SchedHistogram{BoundsMs: []float64{0.1, 1, 4}, Counts: []uint64{900, 980, 995}, Total: 1000}
	tests := []struct {
		name           string
		h              *summary.SchedHistogram
		waitMs         float64
		share, boundMs float64
	}{
		{"on a bound", h, 1, 0.02, 1},
		{"inside a bucket counts from its top", h, 0.5, 0.02, 1},
		{"only the +Inf bucket is past it", h, 4, 0.005, 4},
		{"past every finite bound", h, 5, 0, 0},
		{"below the first bound", h, 0.05, 0.1, 0.1},
		{"empty", &summary.SchedHistogram{BoundsMs: []float64{1}, Counts: []uint64{0}}, 1, 0, 0},
		{"not read", nil, 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			share, bound := SlowWakeups(tt.h, tt.waitMs)
			if math.Abs(share-tt.share) > 1e-12 || bound != tt.boundMs {
				t.Errorf("SlowWakeups(%v ms) = %v beyond %v ms, want %v beyond %v ms", tt.waitMs, share, bound, tt.share, tt.boundMs)
			}
		})
	}
}

// TestSlowRequests: a request that needs n wake-ups meets a slow one unless all n are fast.
func TestSlowRequests(t *testing.T) {
	for _, tt := range []struct{ slow, runs, want float64 }{
		{0, 2, 0}, {1, 2, 1}, {0.5, 2, 0.75}, {0.005, 2, 0.009975}, {0.01, 1, 0.01},
	} {
		if got := SlowRequests(tt.slow, tt.runs); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("SlowRequests(%v, %v) = %v, want %v", tt.slow, tt.runs, got, tt.want)
		}
	}
}

// TestPeakRule: in the p99's window, a role whose worst quarter second waited at least the
// moving share of the judged p99 per run moves it, whatever the second's mean says; many short
// waits summed along the path do not; still only when others ran.
func TestPeakRule(t *testing.T) {
	win := func(p99, path float64, peak [3]float64, foreign float64) summary.ContentionWindow {
		return summary.ContentionWindow{Requests: 100, P99Ms: p99, ForeignCPUs: foreign, PathDelayMs: path, PeakDelayPerRunMs: peak}
	}
	tests := []struct {
		name   string
		w      summary.ContentionWindow
		judged float64
		moved  bool
	}{
		{"a quiet machine", win(6, 0.26, [3]float64{0.07, 0.08, 0.06}, 0.02), 6, false},
		{"many short waits: a nice loop", win(6, 0.74, [3]float64{0.2, 0.3, 0.2}, 0.98), 6, false},
		{"a burst on the backend the mean dilutes", win(72, 1.3, [3]float64{0.2, 2.7, 0.3}, 1.75), 12, true},
		{"at the threshold", win(12, 0.5, [3]float64{0.1, 1.2001, 0.1}, 1.75), 12, true},
		{"just under it", win(12, 0.5, [3]float64{0.1, 1.19, 0.1}, 1.75), 12, false},
		{"a burst, nobody else ran", win(72, 1.3, [3]float64{9, 9, 9}, 0.02), 12, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := Neighbour(summary.Contention{Windows: []summary.ContentionWindow{tt.w}}, tt.judged, 0.1)
			if n.Moved != tt.moved {
				t.Errorf("Neighbour = %+v, want moved %v", n, tt.moved)
			}
		})
	}
}
