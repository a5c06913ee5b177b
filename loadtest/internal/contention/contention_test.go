package contention

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// TestNeighbourRule: the rule asks what the slowest requests met on their path: the worst
// delay per run of one thread in a reading that overlaps one, the wait at least two of them
// met, against the share of the judged p99, and only when others ran in the second it was
// sent. Waits no slow request overlapped, one request's, and the p99's window are not judged.
func TestNeighbourRule(t *testing.T) {
	windows := func(foreign float64) []summary.ContentionWindow {
		return []summary.ContentionWindow{
			{StartMs: 0, Requests: 100, P99Ms: 9, ForeignCPUs: foreign, RunMs: 100},
			{StartMs: 1000, Requests: 100, P99Ms: 5, ForeignCPUs: foreign, RunMs: 100},
		}
	}
	// Readings of 250 ms, each with its worst thread's delay per run by role.
	var quiet []Point
	for end := 250.0; end <= 2000; end += 250 {
		quiet = append(quiet, Point{OffsetMs: end, SpanMs: 250, Worst: [roles]float64{Server: 0.1, Database: 0.05}})
	}
	burst := func(at int, db float64) []Point {
		p := slices.Clone(quiet)
		p[at].Worst[Database] = db
		return p
	}
	// A harness thread that waited a slice: the harness's runs as a whole did not (2 ms over
	// 100 runs), unless they all waited.
	harness := func(at int, wait time.Duration, runs uint64) []Point {
		p := slices.Clone(quiet)
		p[at].Worst[Harness], p[at].Wait[Harness], p[at].Slices[Harness] = 3, wait, runs
		return p
	}
	slow := func(offsets ...float64) []summary.Request {
		var r []summary.Request
		for _, o := range offsets {
			r = append(r, summary.Request{OffsetMs: o, LatencyMs: 40})
		}
		return r
	}
	tests := []struct {
		name     string
		points   []Point
		foreign  float64
		slowest  []summary.Request
		judged   float64
		maxShare float64
		moved    bool
		role     string
	}{
		{"quiet machine", quiet, 0.02, slow(100, 1300), 8, 0.1, false, "server"},
		{"a nice loop ran, our threads barely waited", quiet, 0.98, slow(100, 1300), 8, 0.1, false, "server"},
		{"two slow requests met a burst on the backend", burst(5, 3), 1.8, slow(100, 1300, 1400), 8, 0.1, true, "database"},
		{"one slow request met it: the maximum, not the p99", burst(5, 3), 1.8, slow(100, 1300), 8, 0.1, false, "server"},
		{"a burst no slow request overlapped", burst(5, 3), 1.8, slow(100, 1800), 8, 0.1, false, "server"},
		{"requests sent before the burst's reading, answered in it", burst(5, 3), 1.8, slow(1220, 1230), 8, 0.1, true, "database"},
		{"at the limit", burst(0, 0.8), 1.8, slow(100, 150), 8, 0.1, true, "database"},
		{"just under it", burst(0, 0.79), 1.8, slow(100, 150), 8, 0.1, false, "database"},
		{"a slice's wait against a slow figure", burst(5, 3), 1.8, slow(1300, 1400), 80, 0.1, false, "database"},
		{"we waited for each other, nobody else ran", burst(5, 3), 0.05, slow(1300, 1400), 8, 0.1, false, "database"},
		{"not checked", burst(5, 30), 1.8, slow(1300, 1400), 8, 0, false, "database"},
		{"no slow request listed", burst(5, 30), 1.8, nil, 8, 0.1, false, ""},
		{"one slow request listed", burst(5, 30), 1.8, slow(1300), 8, 0.1, false, ""},
		{"one harness thread waited, the harness's runs did not", harness(5, 2*time.Millisecond, 100), 1.8, slow(1300, 1400), 8, 0.1, false, "server"},
		{"the harness's runs waited", harness(5, 100*time.Millisecond, 100), 1.8, slow(1300, 1400), 8, 0.1, true, "harness"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := Neighbour(tt.points, summary.Contention{Windows: windows(tt.foreign), CPUs: 2}, tt.slowest, tt.judged, 0, tt.maxShare)
			if n.Moved != tt.moved || n.SlowRole != tt.role || n.JudgedMs != tt.judged || n.WindowStartMs != 0 || n.SlowRequestsSeen != len(tt.slowest) {
				t.Errorf("Neighbour = %+v, want moved %v by the %s's wait, the p99's window at 0 ms", n, tt.moved, tt.role)
			}
		})
	}
}

// TestNeighbourSendRule: when every wake-up waits a little, no slow request meets a long wait
// on a thread, but the harness's sends show it: one send in a hundred waits a tenth of the p99
// and at least SendFloorMs. It counts only when others took the CPU our threads left free.
func TestNeighbourSendRule(t *testing.T) {
	var quiet []Point
	for end := 250.0; end <= 2000; end += 250 {
		quiet = append(quiet, Point{OffsetMs: end, SpanMs: 250, Worst: [roles]float64{Server: 0.1, Database: 0.05}})
	}
	burst := slices.Clone(quiet)
	burst[5].Worst[Database] = 3
	slowest := []summary.Request{{OffsetMs: 1300, LatencyMs: 40}, {OffsetMs: 1400, LatencyMs: 40}}
	tests := []struct {
		name                string
		points              []Point
		ours, foreign, nice float64
		judged, late        float64
		maxShare            float64
		movedBy             string
		limit               float64
	}{
		{"a tenth of the p99, over the floor, others took the free CPU", quiet, 0.1, 1.8, 0, 8, 1.1, 0.1, "send", 1},
		{"at the floor", quiet, 0.1, 1.8, 0, 8, 1, 0.1, "send", 1},
		{"a tenth of the p99 but under the floor", quiet, 0.1, 1.8, 0, 4, 0.9, 0.1, "", 1},
		{"over the floor but under a tenth of a slow p99", quiet, 0.1, 1.8, 0, 40, 3, 0.1, "", 4},
		{"at a tenth of a slow p99", quiet, 0.1, 1.8, 0, 40, 4, 0.1, "send", 4},
		{"others ran but left a CPU free", quiet, 0.1, 0.85, 0, 8, 3, 0.1, "", 1},
		{"our own threads filled the machine: the server's limit", quiet, 1.5, 0.4, 0, 8, 3, 0.1, "", 1},
		{"a nice loop only", quiet, 0.1, 1.0, 0.98, 8, 3, 0.1, "", 1},
		{"not checked", quiet, 0.1, 1.8, 0, 8, 3, 0, "", 1},
		{"both: the slow requests' wait is named", burst, 0.1, 1.8, 0, 8, 3, 0.1, "slow", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := summary.ContentionWindow{Requests: 100, P99Ms: 9, RunMs: 1000 * tt.ours, ForeignCPUs: tt.foreign, NicedCPUs: tt.nice}
			second := w
			second.StartMs = 1000
			c := summary.Contention{CPUs: 2, Windows: []summary.ContentionWindow{w, second}}
			n := Neighbour(tt.points, c, slowest, tt.judged, tt.late, tt.maxShare)
			if n.MovedBy != tt.movedBy || n.Moved != (tt.movedBy != "") || n.SendWaitMs != tt.late || n.SendLimitMs != tt.limit {
				t.Errorf("Neighbour = %+v, want moved by %q, send lateness %.2f ms against %.2f", n, tt.movedBy, tt.late, tt.limit)
			}
			if math.Abs(n.OurCPUs-tt.ours) > 1e-9 || math.Abs(n.CompetingCPUs-max(tt.foreign-tt.nice, 0)) > 1e-9 {
				t.Errorf("ours %.2f and others' %.2f CPUs, want %.2f and %.2f", n.OurCPUs, n.CompetingCPUs, tt.ours, tt.foreign-tt.nice)
			}
		})
	}
}

// TestCrowded: others crowd the machine when they take the CPU our threads left free, a whole
// one (half of a single CPU); not when one stays free, nor when ours filled it themselves.
func TestCrowded(t *testing.T) {
	tests := []struct {
		name            string
		ours, competing float64
		cpus            int
		want            bool
	}{
		{"two loops beside a light benchmark", 0.15, 1.85, 2, true},
		{"a CPU left free", 0.15, 0.8, 2, false},
		{"ours filled the machine themselves", 1.2, 0.8, 2, false},
		{"many cores, a browser tab", 0.5, 0.6, 16, false},
		{"many cores, all others' but one", 0.5, 14.6, 16, true},
		{"one CPU, a loop beside a light benchmark", 0.1, 0.9, 1, true},
		{"one CPU, half of it free", 0.1, 0.3, 1, false},
		{"CPUs not read", 0.1, 1.9, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Crowded(tt.ours, tt.competing, tt.cpus); got != tt.want {
				t.Errorf("Crowded(%.2f, %.2f, %d) = %v, want %v", tt.ours, tt.competing, tt.cpus, got, tt.want)
			}
		})
	}
}

// TestNeighbourRuleLeavesNicedOut: the same burst, met by two slow requests, moves the figure
// only when others ran at our priority: a niced process gets a CPU only when ours do not want
// it, so beside it our threads waited for each other.
func TestNeighbourRuleLeavesNicedOut(t *testing.T) {
	var points []Point
	for end := 250.0; end <= 1000; end += 250 {
		points = append(points, Point{OffsetMs: end, SpanMs: 250, Worst: [roles]float64{Server: 0.1, Database: 3}})
	}
	slowest := []summary.Request{{OffsetMs: 100, LatencyMs: 40}, {OffsetMs: 300, LatencyMs: 40}}
	tests := []struct {
		name           string
		foreign, niced float64
		moved          bool
	}{
		{"others at our priority", 1.8, 0, true},
		{"a nice loop only", 1.0, 0.98, false},
		{"a nice loop and a busy loop at our priority", 1.9, 0.9, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := summary.Contention{CPUs: 2, Windows: []summary.ContentionWindow{{Requests: 100, P99Ms: 9, ForeignCPUs: tt.foreign, NicedCPUs: tt.niced, RunMs: 100}}}
			n := Neighbour(points, c, slowest, 8, 0, 0.1)
			if n.Moved != tt.moved || n.SlowNicedCPUs != tt.niced || n.SlowForeignCPUs != tt.foreign {
				t.Errorf("Neighbour = %+v, want moved %v with others' %.2f CPUs, %.2f niced", n, tt.moved, tt.foreign, tt.niced)
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
	// The peak is, per role, the highest delay per run the rule reads (onPath) of any reading in
	// the window: the worst thread's for the server and database, the harness's mean (60 ms over
	// 6 runs, not its worst thread's 15). Window 0 holds only point 0, window 1 only point 1; a
	// quieter reading beside point 1 does not lower it.
	points[0].Worst, points[1].Worst = [roles]float64{12, 0, 0}, [roles]float64{0, 10, 15}
	quiet := Point{OffsetMs: 2000, SpanMs: 250, Worst: [roles]float64{0.1, 0.1, 0.1}}
	if c := Summarise(append(points, quiet), windows); c.Windows[0].PeakDelayPerRunMs != [3]float64{12, 0, 0} || c.Windows[1].PeakDelayPerRunMs != [3]float64{0.1, 10, 10} {
		t.Errorf("peak delay per run %v, %v; want [12 0 0], [0.1 10 10] ms", c.Windows[0].PeakDelayPerRunMs, c.Windows[1].PeakDelayPerRunMs)
	}
	// The harness's own backends run off a request's path: their CPU is ours (not others'),
	// their waits are no role's.
	points[0].OffPathRun = 100 * ms
	if c := Summarise(points, windows); math.Abs(c.Windows[0].ForeignCPUs-0.4) > 1e-9 || c.Windows[0].ServerWaitMs != 100 {
		t.Errorf("with 100 ms off the path: others ran %v CPUs, server waited %v ms; want 0.4, 100", c.Windows[0].ForeignCPUs, c.Windows[0].ServerWaitMs)
	}
	// Of others' 400 ms, 200 ran niced; niced time beyond others' (ours would be in it) is cut.
	points[0].Niced = 200 * ms
	if w := Summarise(points, windows).Windows[0]; math.Abs(w.NicedCPUs-0.2) > 1e-9 || Competing(w) != 0.2 {
		t.Errorf("niced %v CPUs, competing %v; want 0.2 and 0.2", w.NicedCPUs, Competing(w))
	}
	points[0].Niced = 700 * ms
	if w := Summarise(points, windows).Windows[0]; math.Abs(w.NicedCPUs-0.4) > 1e-9 || Competing(w) != 0 {
		t.Errorf("niced %v CPUs, competing %v; want 0.4 (all of others') and 0", w.NicedCPUs, Competing(w))
	}
	points[0].Niced = 0
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
