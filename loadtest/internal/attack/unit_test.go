package attack

import (
	"net/http"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/promexport"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		code uint16
		err  string
		want string
	}{
		{"ok", 200, "", ""},
		{"created", 201, "", ""},
		{"redirect counts as success like vegeta", 302, "", ""},
		{"bad request", 400, "400 Bad Request", Class4xx},
		{"unauthorized", 401, "401 Unauthorized", Class4xx},
		{"server error", 500, "500 Internal Server Error", Class5xx},
		{"unavailable", 503, "503 Service Unavailable", Class5xx},
		{"client timeout", 0, `Get "http://127.0.0.1:1/x": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, ClassTimeout},
		{"client timeout reading body", 0, `net/http: request canceled (Client.Timeout or context cancellation while reading body)`, ClassTimeout},
		{"dial timeout", 0, `Get "http://127.0.0.1:1/x": dial tcp 127.0.0.1:1: i/o timeout`, ClassTimeout},
		{"refused", 0, `Get "http://127.0.0.1:1/x": dial tcp 127.0.0.1:1: connect: connection refused`, ClassRefused},
		{"reset", 0, `Post "http://127.0.0.1:1/x": read tcp 127.0.0.1:5->127.0.0.1:1: read: connection reset by peer`, ClassReset},
		{"broken pipe", 0, `Post "http://127.0.0.1:1/x": write tcp 127.0.0.1:5->127.0.0.1:1: write: broken pipe`, ClassReset},
		{"eof", 0, `Get "http://127.0.0.1:1/x": EOF`, ClassEOF},
		{"unexpected eof in body", 0, `unexpected EOF`, ClassEOF},
		{"server closed idle", 0, `Post "http://127.0.0.1:1/x": http: server closed idle connection`, ClassEOF},
		{"cancelled", 0, `Get "http://127.0.0.1:1/x": context canceled`, ClassCancelled},
		{"closed by an interrupt", 0, `Get "http://127.0.0.1:1/x": read tcp 127.0.0.1:5->127.0.0.1:1: use of closed network connection`, ClassCancelled},
		{"no targeter", 0, "no targets to attack", ClassOther},
		{"informational", 101, "101 Switching Protocols", ClassOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(&vegeta.Result{Code: tt.code, Error: tt.err})
			if got != tt.want {
				t.Errorf("Classify(%d, %q) = %q, want %q", tt.code, tt.err, got, tt.want)
			}
		})
	}
}

// simulate runs a pacer's own Pace with instant sends and returns when each hit goes out: the
// schedule vegeta follows when it is never late. IntendedOffset must agree with it.
func simulate(p vegeta.Pacer, n int) []time.Duration {
	var (
		out     []time.Duration
		elapsed time.Duration
	)
	for hits := uint64(0); len(out) < n; hits++ {
		wait, stop := p.Pace(elapsed, hits)
		if stop {
			break
		}
		elapsed += wait
		out = append(out, elapsed)
	}
	return out
}

func TestIntendedOffset(t *testing.T) {
	tests := []struct {
		name  string
		pacer vegeta.Pacer
		seq   uint64
		want  time.Duration
		tol   time.Duration
	}{
		{"constant first hit after one interval", vegeta.ConstantPacer{Freq: 100, Per: time.Second}, 0, 10 * time.Millisecond, 0},
		{"constant hit 99", vegeta.ConstantPacer{Freq: 100, Per: time.Second}, 99, time.Second, 0},
		{"constant pointer", &vegeta.ConstantPacer{Freq: 50, Per: time.Second}, 4, 100 * time.Millisecond, 0},
		{"constant per minute", vegeta.ConstantPacer{Freq: 3, Per: time.Minute}, 2, time.Minute, 0},
		{"constant odd interval truncates like vegeta", vegeta.ConstantPacer{Freq: 3, Per: time.Second}, 2, 999999999, 0},
		{"linear first hit at once", vegeta.LinearPacer{StartAt: vegeta.Rate{Freq: 10, Per: time.Second}, Slope: 10}, 0, 0, 0},
		{"linear flat is constant", vegeta.LinearPacer{StartAt: vegeta.Rate{Freq: 10, Per: time.Second}, Slope: 0}, 9, time.Second, time.Microsecond},
		// 5t² + 10t = 31 → t = (−10 + √(100 + 620)) / 10 = 1.6833 s
		{"linear ramp", vegeta.LinearPacer{StartAt: vegeta.Rate{Freq: 10, Per: time.Second}, Slope: 10}, 30, 1683281573, time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := IntendedOffset(tt.pacer, tt.seq)
			if !ok {
				t.Fatalf("IntendedOffset(%v, %d) not ok", tt.pacer, tt.seq)
			}
			if d := got - tt.want; d > tt.tol || d < -tt.tol {
				t.Errorf("IntendedOffset(%v, %d) = %v, want %v ± %v", tt.pacer, tt.seq, got, tt.want, tt.tol)
			}
		})
	}
	if _, ok := IntendedOffset(vegeta.SinePacer{}, 1); ok {
		t.Error("IntendedOffset(SinePacer) ok, want not ok: its schedule is not inverted")
	}
	if _, ok := IntendedOffset(vegeta.ConstantPacer{}, 1); ok {
		t.Error("IntendedOffset(zero ConstantPacer) ok, want not ok: infinite rate has no schedule")
	}
}

// TestIntendedOffsetMatchesPace checks the closed forms against vegeta's own Pace over many hits.
// A ConstantPacer follows its formula exactly. A LinearPacer's Pace estimates its wait from the
// current rate, so while the rate rises it sends later than its own hit formula says (by 1.46 s
// for hit 1 at 1/s + 10/s², then it catches up in a burst): never earlier, and within 1 ms once
// past the first hits. The intended time is the formula (what the ramp asked for), so that lag
// counts as send lateness.
func TestIntendedOffsetMatchesPace(t *testing.T) {
	tests := []struct {
		name  string
		pacer vegeta.Pacer
		after int // hits from which the schedules agree within tol
		tol   time.Duration
	}{
		{"constant 100/s", vegeta.ConstantPacer{Freq: 100, Per: time.Second}, 0, 0},
		{"constant 7/s", vegeta.ConstantPacer{Freq: 7, Per: time.Second}, 0, 0},
		{"linear 10/s +20/s²", vegeta.LinearPacer{StartAt: vegeta.Rate{Freq: 10, Per: time.Second}, Slope: 20}, 20, time.Millisecond},
		{"linear 50/s +5/s²", vegeta.LinearPacer{StartAt: vegeta.Rate{Freq: 50, Per: time.Second}, Slope: 5}, 0, time.Millisecond},
		{"linear 1/s +10/s²", vegeta.LinearPacer{StartAt: vegeta.Rate{Freq: 1, Per: time.Second}, Slope: 10}, 50, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seq, paced := range simulate(tt.pacer, 500) {
				got, _ := IntendedOffset(tt.pacer, uint64(seq))
				if paced < got-time.Microsecond {
					t.Fatalf("hit %d: Pace sends at %v, before the intended %v", seq, paced, got)
				}
				if d := paced - got; seq >= tt.after && d > tt.tol {
					t.Fatalf("hit %d: IntendedOffset = %v, Pace schedule = %v (tolerance %v)", seq, got, paced, tt.tol)
				}
			}
		})
	}
}

func TestScheduled(t *testing.T) {
	c100 := vegeta.ConstantPacer{Freq: 100, Per: time.Second}
	lin := vegeta.LinearPacer{StartAt: vegeta.Rate{Freq: 10, Per: time.Second}, Slope: 10}
	tests := []struct {
		name   string
		pacer  vegeta.Pacer
		lo, hi time.Duration
		want   int64
	}{
		{"constant no warm-up", c100, 0, 2 * time.Second, 200},
		{"constant with warm-up", c100, time.Second, 3 * time.Second, 200},
		{"constant partial", c100, 0, 1234 * time.Millisecond, 123},
		// hits(t) = 5t² + 10t: hits(2) = 40 → hit 0 at 0 and hits 1..39 due by 2 s.
		{"linear no warm-up", lin, 0, 2 * time.Second, 40},
		// hits(1) = 15 → hits 1..14 due by 1 s; (1, 2] holds 15..39.
		{"linear with warm-up", lin, time.Second, 2 * time.Second, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := scheduled(tt.pacer, tt.lo, tt.hi)
			if !ok || got != tt.want {
				t.Errorf("scheduled(%v, %v, %v) = %d, %v; want %d", tt.pacer, tt.lo, tt.hi, got, ok, tt.want)
			}
		})
	}
}

func TestWindowIndex(t *testing.T) {
	tests := []struct {
		off       time.Duration
		scheduled bool
		want      int
	}{
		{0, true, 0},
		{time.Millisecond, true, 0},
		{time.Second, true, 0}, // due exactly at the end of the first second
		{time.Second + 1, true, 1},
		{0, false, 0},
		{999 * time.Millisecond, false, 0},
		{time.Second, false, 1},
		{-time.Millisecond, false, 0},
	}
	for _, tt := range tests {
		if got := windowIndex(tt.off, tt.scheduled); got != tt.want {
			t.Errorf("windowIndex(%v, %v) = %d, want %d", tt.off, tt.scheduled, got, tt.want)
		}
	}
}

// TestWindows feeds known results and checks the per-second figures, the gap filling, the
// partial last window and the flush of windows no result can reach any more.
func TestWindows(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	agg := newAggregator(start, 3, "http://jaeger:16686/", 2*time.Second)
	res := func(at, lat time.Duration, code uint16) *vegeta.Result {
		r := &vegeta.Result{Timestamp: start.Add(at), Latency: lat, Code: code, Method: http.MethodGet}
		if code >= 400 {
			r.Error = http.StatusText(int(code))
		}
		return r
	}
	// second 0: 4 requests, one 500; second 1: nothing; second 2 (last, 0.5 s long): 2 requests.
	in := []*vegeta.Result{
		res(100*time.Millisecond, 10*time.Millisecond, 200),
		res(300*time.Millisecond, 20*time.Millisecond, 200),
		res(500*time.Millisecond, 30*time.Millisecond, 500),
		res(900*time.Millisecond, 40*time.Millisecond, 200),
		res(2100*time.Millisecond, 5*time.Millisecond, 200),
		res(2400*time.Millisecond, 7*time.Millisecond, 201),
	}
	for _, r := range in {
		off := r.Timestamp.Sub(start)
		agg.Add(&Hit{Result: r, Class: Classify(r), Counted: true, window: windowIndex(off, false)})
	}
	agg.Tick(start.Add(3 * time.Second)) // windows ending ≤ 1 s: only window 0 is final
	if len(agg.done) != 1 || len(agg.open) != 1 {
		t.Fatalf("after flush: %d done, %d open; want 1 done (window 0), 1 open (window 2)", len(agg.done), len(agg.open))
	}
	agg.finish(2500 * time.Millisecond)

	if len(agg.done) != 3 {
		t.Fatalf("got %d windows, want 3: %+v", len(agg.done), agg.done)
	}
	w0, w1, w2 := agg.done[0], agg.done[1], agg.done[2]
	if w0.Requests != 4 || w0.Errors != 1 || w0.Rate != 4 || w0.Throughput != 3 || w0.Max != 40 {
		t.Errorf("window 0 = %+v, want 4 requests, 1 error, rate 4, throughput 3, max 40", w0)
	}
	if w0.P50 < 10 || w0.P50 > 40 || w0.P99 < 30 || w0.P99 > 40 {
		t.Errorf("window 0 p50 %v p99 %v, want within the samples (10..40, p99 ≥ 30)", w0.P50, w0.P99)
	}
	if w1.StartMs != 1000 || w1.Requests != 0 || w1.Rate != 0 {
		t.Errorf("window 1 = %+v, want an empty window starting at 1000 ms", w1)
	}
	if w2.StartMs != 2000 || w2.Requests != 2 || w2.Rate != 4 || w2.Throughput != 4 {
		t.Errorf("window 2 = %+v, want 2 requests over 0.5 s: rate 4", w2)
	}
	if agg.requests != 6 || agg.successes != 5 || agg.codes["500"] != 1 || agg.classes[Class5xx] != 1 {
		t.Errorf("totals: %d requests, %d successes, codes %v, classes %v", agg.requests, agg.successes, agg.codes, agg.classes)
	}
	slow := agg.slowestSorted()
	if len(slow) != 3 || slow[0].LatencyMs != 40 || slow[1].LatencyMs != 30 || slow[2].LatencyMs != 20 {
		t.Errorf("slowest = %+v, want 40, 30, 20 ms", slow)
	}
}

func TestTraceOf(t *testing.T) {
	tests := []struct {
		name        string
		h           http.Header
		wantID      string
		wantSampled bool
	}{
		{"sampled", http.Header{"Traceresponse": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}, "4bf92f3577b34da6a3ce929d0e0e4736", true},
		{"not sampled", http.Header{"Traceresponse": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}}, "4bf92f3577b34da6a3ce929d0e0e4736", false},
		{"x-trace-id only", http.Header{"X-Trace-Id": {"abc"}}, "abc", false},
		{"response wins over what was sent", http.Header{"Traceresponse": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}}, "4bf92f3577b34da6a3ce929d0e0e4736", false},
		{"malformed", http.Header{"Traceresponse": {"garbage"}}, "", false},
		{"none", nil, "", false},
	}
	const sent = "http://h/api/v1/items?page=1#tp=0af7651916cd43dd8448eb211c80319c-01&bench-delay"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, s := TraceOf(&vegeta.Result{Headers: tt.h})
			if id != tt.wantID || s != tt.wantSampled {
				t.Errorf("TraceOf = %q, %v; want %q, %v", id, s, tt.wantID, tt.wantSampled)
			}
			// With the sent traceparent in the URL, a result without a trace header falls back to it.
			id, s = TraceOf(&vegeta.Result{Headers: tt.h, URL: sent})
			if tt.wantID == "" {
				tt.wantID, tt.wantSampled = "0af7651916cd43dd8448eb211c80319c", true
			}
			if id != tt.wantID || s != tt.wantSampled {
				t.Errorf("TraceOf = %q, %v; want %q, %v", id, s, tt.wantID, tt.wantSampled)
			}
		})
	}
}

func TestTargeterMixIsSeeded(t *testing.T) {
	mix := func(seed int64) (posts int, seq string) {
		tr := NewTargeter(TargetOptions{Requests: testMix, Held: testHeld, BaseURL: "http://127.0.0.1:1", Seed: seed, DelayShare: 0.1, Delay: time.Second})
		for range 1000 {
			var tg vegeta.Target
			if err := tr(&tg); err != nil {
				t.Fatal(err)
			}
			if tg.Method == http.MethodPost {
				posts++
				seq += "P"
				if tg.Header.Get("Idempotency-Key") == "" {
					t.Fatal("POST without Idempotency-Key: the transport would not retry it on a closed idle connection")
				}
			} else {
				seq += "G"
			}
			if d := tg.Header.Get("X-Bench-Delay"); (d != "") != Delayed(&vegeta.Result{URL: tg.URL}) {
				t.Fatalf("X-Bench-Delay %q but marker in %q disagrees", d, tg.URL)
			}
			// The fragment carries the trace id that the traceparent header sends.
			if id, _ := TraceOf(&vegeta.Result{URL: tg.URL}); !strings.Contains(tg.Header.Get("Traceparent"), "-"+id+"-") || id == "" {
				t.Fatalf("URL %q notes trace %q, traceparent is %q", tg.URL, id, tg.Header.Get("Traceparent"))
			}
		}
		return posts, seq
	}
	p1, s1 := mix(42)
	p2, s2 := mix(42)
	_, s3 := mix(43)
	if s1 != s2 {
		t.Error("same seed gave a different GET/POST sequence")
	}
	if s1 == s3 {
		t.Error("different seeds gave the same GET/POST sequence")
	}
	if p1 != p2 || p1 < 150 || p1 > 250 {
		t.Errorf("%d POSTs of 1000, want about 200 (20%%)", p1)
	}
}

// TestClassesMatchContract: the classes the engine assigns are the ones the metrics create.
func TestClassesMatchContract(t *testing.T) {
	ours := []string{ClassTimeout, ClassRefused, ClassReset, ClassEOF, ClassCancelled, Class4xx, Class5xx, ClassOther}
	theirs := promexport.Classes()
	if len(ours) != len(theirs) {
		t.Fatalf("attack has %d classes, promexport %d", len(ours), len(theirs))
	}
	for i := range ours {
		if ours[i] != theirs[i] {
			t.Errorf("class %d: attack %q, promexport %q", i, ours[i], theirs[i])
		}
	}
}
