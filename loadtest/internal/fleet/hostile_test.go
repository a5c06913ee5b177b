package fleet

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
)

// These tests are the hostile coordinators and workers of docs/distributed.md ("Bounds"): each
// sends what a peer that lies or misbehaves would, over a real socket, to the real handler or
// coordinator.

// TestWorkerRefusesPlansOutOfBounds checks that every plan number past its bound is a 400 with
// the reason, nothing is sent, and the worker lives on to take a good plan. Before the bounds,
// the first plan killed the process (vegeta's pacer divides by its interval, 0) and the next ones
// started a billion goroutines or spun a core on a 4.6e18-worker shard.
func TestWorkerRefusesPlansOutOfBounds(t *testing.T) {
	srv, hits := target(t)
	a, _ := startWorker(t, WorkerOptions{})
	good := func() Plan {
		p, err := planFor(steadyConfig(srv.URL, "", 50, time.Second), attack.Shard{Index: 0, Count: 1}, time.Now().Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		edit func(*Plan)
		want string
	}{
		{"per_ns below freq", func(p *Plan) { p.Freq, p.Per = 2, 1 }, "rate 2 per 1ns is above"},
		{"rate above the bound", func(p *Plan) { p.Freq, p.Per = attack.MaxRate+1, time.Second }, "is above 100000/s"},
		{"negative rate", func(p *Plan) { p.Freq = -1 }, "bad rate"},
		{"a billion workers", func(p *Plan) { p.Workers = 1e9 }, "workers 1000000000"},
		{"a billion max workers", func(p *Plan) { p.MaxWorkers = 1e9 }, "max workers 1000000000"},
		{"shard count 4.6e18", func(p *Plan) { p.Shard = attack.Shard{Index: 4.6e18 - 1, Count: 4.6e18} }, "bad shard"},
		{"negative shard", func(p *Plan) { p.Shard = attack.Shard{Index: -1, Count: 2} }, "bad shard"},
		{"no duration", func(p *Plan) { p.Duration = 0 }, "duration 0ns"},
		{"a duration past the bound", func(p *Plan) { p.Duration = attack.MaxDuration + time.Second }, "duration"},
		{"a warm-up past the bound", func(p *Plan) { p.Warmup = attack.MaxWarmup + time.Second }, "warm-up"},
		{"a timeout past the bound", func(p *Plan) { p.Timeout = attack.MaxTimeout + time.Second }, "timeouts"},
		{"a negative held timeout", func(p *Plan) { p.HeldTimeout = -1 }, "timeouts"},
		{"a fragment picks the path", func(p *Plan) { p.Targets.BaseURL = srv.URL + "#" }, "no credentials, query or fragment"},
		{"a query", func(p *Plan) { p.Targets.BaseURL = srv.URL + "/?x=" }, "no credentials, query or fragment"},
		{"not http", func(p *Plan) { p.Targets.BaseURL = "file:///etc/passwd" }, "want http(s)"},
		{"a long scenario name", func(p *Plan) { p.Scenario = strings.Repeat("s", 1000) }, "scenario name of 1000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good()
			tt.edit(&p)
			if code, body := post(t, a, p, nil); code != http.StatusBadRequest || !strings.Contains(body, tt.want) {
				t.Errorf("%d %q, want 400 containing %q", code, body, tt.want)
			}
		})
	}
	time.Sleep(1500 * time.Millisecond) // past every refused plan's start time
	if n := hits.Load(); n != 0 {
		t.Errorf("the target saw %d requests from refused plans", n)
	}
	if code, _ := call(t, http.MethodGet, a, "/v1/ready", testKey, nil); code != http.StatusOK {
		t.Fatalf("the worker after the hostile plans: %d, want alive", code)
	}
	if code, body := post(t, a, good(), func(r io.Reader) { io.Copy(io.Discard, r) }); code != http.StatusOK {
		t.Errorf("a good plan after the hostile ones: %d %q", code, body)
	}
	if n := hits.Load(); n < 45 {
		t.Errorf("the good plan sent %d of its 50 requests", n)
	}
}

// TestPacerPanicEndsTheAttack checks that a panic in the pacer, which runs in vegeta's goroutine
// where it would end the process, stops the schedule and is recorded as the attack's error.
func TestPacerPanicEndsTheAttack(t *testing.T) {
	broken := vegeta.ConstantPacer{Freq: 2, Per: 1} // an interval of 0: vegeta divides by it
	p := Plan{Freq: broken.Freq, Per: broken.Per, Duration: time.Second, Shard: attack.Shard{Count: 1}}
	f := &fault{}
	a := p.anchored(broken, time.Now(), f)
	if _, stop := a.Pace(0, 1<<40); !stop || !strings.Contains(f.get(), "pacer panicked") {
		t.Fatalf("Pace of a pacer that panics: stop %v, fault %q; want stop and the panic recorded", stop, f.get())
	}
	tr := f.targeter(func(*vegeta.Target) error { panic("boom") })
	if err := tr(&vegeta.Target{}); err == nil {
		t.Errorf("a targeter that panics returned no error")
	}
}

// stallFor is how long TestWorkerStopsForADeafCoordinator reads nothing. The worker gives up
// stallAfter after its stream blocks, and from then on it runs no attack at all (it is idle and
// the target sees nothing more), so the count it shows cannot grow later: the test needs to see
// the stall, the abort and the count back at its baseline for a while, not 30 s.
const stallFor = 15 * time.Second

// TestWorkerStopsForADeafCoordinator runs a worker against a coordinator that takes a plan and
// then reads nothing. Before the write deadline, every due hit parked a goroutine on its result
// (vegeta starts a worker when all are busy) and the worker grew at the full rate for as long as
// the attack lasted. Now it stops once a write has blocked for stallAfter: its goroutines stay
// under what that many seconds of hits can park, and go back to the baseline.
func TestWorkerStopsForADeafCoordinator(t *testing.T) {
	const rate = 500
	body := strings.Repeat("e", 16<<10) // an error page per result: frames that fill the socket fast
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		http.Error(w, body, http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	a, _ := startWorker(t, WorkerOptions{})
	base := runtime.NumGoroutine()
	p, err := planFor(steadyConfig(srv.URL, "", rate, time.Minute), attack.Shard{Index: 0, Count: 1}, time.Now().Add(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	conn := sendPlan(t, a, p) // and never read
	defer conn.Close()
	peak, start := 0, time.Now()
	for time.Since(start) < stallFor {
		peak = max(peak, runtime.NumGoroutine())
		time.Sleep(100 * time.Millisecond)
	}
	var r readiness
	co := &Coordinator{o: Options{Key: testKey}, control: newClient(time.Second)}
	if err := co.get(context.Background(), a, "/v1/ready", &r); err != nil || r.Busy {
		t.Errorf("worker after %s of a deaf coordinator: %+v, %v; want idle", stallFor, r, err)
	}
	sent := hits.Load()
	time.Sleep(300 * time.Millisecond)
	end := runtime.NumGoroutine()
	// What stallAfter of hits can park, plus the two seconds the socket buffers take to fill.
	bound := rate * int(stallAfter/time.Second+2)
	t.Logf("goroutines: %d before, peak %d, %d after %s; the target saw %d requests", base, peak, end, stallFor, sent)
	if peak-base > bound || end-base > 50 || hits.Load() != sent {
		t.Errorf("goroutines %d before, peak %d (bound +%d), %d after; target %d then %d: want bounded, back to the baseline, and no more sent",
			base, peak, bound, end, sent, hits.Load())
	}
}

// sendPlan posts p to the worker at addr on a raw connection and returns it unread.
func sendPlan(t *testing.T, addr string, p Plan) net.Conn {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(conn, "POST /v1/attack HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		addr, testKey, len(b), b)
	return conn
}

// TestWorkerServerTimeouts checks that a client that sends a request's headers and then not the
// body it announced is cut off after the read timeout, instead of holding a connection and a
// goroutine for ever; an attack longer than that timeout is not cut by it.
func TestWorkerServerTimeouts(t *testing.T) {
	t.Run("slow body", func(t *testing.T) {
		t.Parallel()
		a, _ := startWorker(t, WorkerOptions{})
		conn, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/attack HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{", a, testKey)
		start := time.Now()
		_ = conn.SetReadDeadline(start.Add(readTimeout + 3*time.Second))
		_, err = io.Copy(io.Discard, conn)
		if d := time.Since(start); err != nil || d > readTimeout+2*time.Second {
			t.Errorf("connection held %s (%v); want closed by the worker within its %s read timeout", d, err, readTimeout)
		}
	})
	t.Run("long attack", func(t *testing.T) {
		t.Parallel()
		srv, _ := target(t)
		a, _ := startWorker(t, WorkerOptions{})
		co := dial(t, []string{a}, Options{})
		d := readTimeout + 2*time.Second
		f, err := co.Attack(context.Background(), steadyConfig(srv.URL, "", 10, d))
		if err != nil || f.Interrupted || f.Requests < f.Scheduled-1 {
			t.Errorf("an attack of %s: %v, interrupted %v (%s), %d of %d; want whole", d, err, f.Interrupted, f.Cut, f.Requests, f.Scheduled)
		}
	})
}

// liar is a hostile worker's script: given its plan and the honest results of its shard (sent
// at their due times, 1 ms latency, timestamps from t0), it returns the results it streams and
// edits its end frame. Nil sends the honest ones.
type liar func(p Plan, t0 time.Time, rs []vegeta.Result, e *end) []vegeta.Result

// hostileWorker serves the control API the way a worker that lies would: it answers ready and
// its clock truthfully, sends no request, and streams what lie makes of its shard's results;
// with forever, it then beats until its coordinator goes instead of ending.
func hostileWorker(t *testing.T, lie liar, forever bool) string {
	t.Helper()
	return fakeWorker(t, func(w http.ResponseWriter, r *http.Request) {
		var p Plan
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		t0 := time.Now()
		whole := vegeta.ConstantPacer{Freq: p.Freq, Per: p.Per}
		var rs []vegeta.Result
		for j := uint64(0); ; j++ {
			seq := p.Shard.Global(j)
			due, _ := attack.IntendedOffset(whole, seq)
			if due > p.Warmup+p.Duration {
				break
			}
			rs = append(rs, vegeta.Result{Seq: seq, Timestamp: t0.Add(due), Latency: time.Millisecond, Code: 200, Method: "GET", URL: "http://h/"})
		}
		e := end{}
		if lie != nil {
			rs = lie(p, t0, rs, &e)
		}
		if e.Sent == 0 {
			e.Sent = int64(len(rs))
		}
		w.Header().Set("Content-Type", contentType)
		var out []byte
		for i := range rs {
			payload := appendResult(nil, &rs[i], t0)
			out = append(appendHead(out, frameResult, len(payload)), payload...)
		}
		if _, err := w.Write(out); err != nil {
			return
		}
		rc := http.NewResponseController(w)
		for forever && r.Context().Err() == nil {
			_, _ = w.Write(appendHead(nil, frameBeat, 0))
			_ = rc.Flush()
			time.Sleep(200 * time.Millisecond)
		}
		b, _ := json.Marshal(e)
		_, _ = w.Write(append(appendHead(nil, frameEnd, len(b)), b...))
	})
}

// fakeWorker serves a worker's control API whose POST /v1/attack is attack; it is ready and
// tells its clock truthfully.
func fakeWorker(t *testing.T, attack http.HandlerFunc) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ready", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, readiness{Protocol: Protocol}) })
	mux.HandleFunc("GET /v1/clock", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, clockReading{UnixNano: time.Now().UnixNano()})
	})
	mux.HandleFunc("POST /v1/stop", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("POST /v1/attack", attack)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestCoordinatorRefusesImpossibleResults checks that a worker that streams results of another
// shard, twice the same, past the schedule, sent before they were due or outside the attack, with
// a negative latency, or an end frame that miscounts, has those results left out of every figure
// and makes the scenario INVALID by "workers honest", naming it and not the honest worker.
func TestCoordinatorRefusesImpossibleResults(t *testing.T) {
	const rate = 20
	tests := []struct {
		name string
		lie  liar
		lost int64 // honest results the lie replaced
		want string
	}{
		{"another shard's hit", func(_ Plan, _ time.Time, rs []vegeta.Result, _ *end) []vegeta.Result {
			r := rs[0]
			r.Seq = 0
			return append(rs, r)
		}, 0, "hit 0 is not of its shard 1 of 2"},
		{"a duplicate", func(_ Plan, _ time.Time, rs []vegeta.Result, _ *end) []vegeta.Result {
			return append(rs, rs[3])
		}, 0, "came twice"},
		{"a hit past the schedule", func(p Plan, _ time.Time, rs []vegeta.Result, _ *end) []vegeta.Result {
			r := rs[0]
			r.Seq = p.Shard.Global(1000)
			return append(rs, r)
		}, 0, "after its end"},
		{"a negative latency", func(_ Plan, _ time.Time, rs []vegeta.Result, _ *end) []vegeta.Result {
			rs[0].Latency = -time.Second
			return rs
		}, 1, "negative latency"},
		{"sent before the attack", func(_ Plan, t0 time.Time, rs []vegeta.Result, _ *end) []vegeta.Result {
			rs[0].Timestamp = t0.Add(-time.Hour)
			return rs
		}, 1, "before it was due"},
		{"sent long after the end", func(p Plan, t0 time.Time, rs []vegeta.Result, _ *end) []vegeta.Result {
			rs[0].Timestamp = t0.Add(p.Duration + time.Hour)
			return rs
		}, 1, "says it was sent 1h0m"},
		{"an end frame that miscounts", func(_ Plan, _ time.Time, rs []vegeta.Result, e *end) []vegeta.Result {
			e.Sent = int64(len(rs)) + 5
			return rs
		}, 0, "its end frame says 15 results sent, 10 came"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			honest, liar := hostileWorker(t, nil, false), hostileWorker(t, tt.lie, false)
			co := dial(t, []string{honest, liar}, Options{})
			f, err := co.Attack(context.Background(), steadyConfig("http://127.0.0.1:1", "", rate, time.Second))
			if err != nil {
				t.Fatal(err)
			}
			c := check(f, "workers honest")
			if c.Pass || !strings.Contains(c.Got, "worker "+liar+": 1 impossible") || !strings.Contains(c.Got, tt.want) || strings.Contains(c.Got, honest) {
				t.Errorf("check %+v; want failed naming %s for %q, not %s", c, liar, tt.want, honest)
			}
			if f.Requests != rate-tt.lost || f.Interrupted {
				t.Errorf("%d requests counted (interrupted %v), want the %d possible ones", f.Requests, f.Interrupted, rate-tt.lost)
			}
		})
	}
	t.Run("honest", func(t *testing.T) {
		t.Parallel()
		co := dial(t, []string{hostileWorker(t, nil, false), hostileWorker(t, nil, false)}, Options{})
		f, err := co.Attack(context.Background(), steadyConfig("http://127.0.0.1:1", "", rate, time.Second))
		if c := check(f, "workers honest"); err != nil || !c.Pass || f.Requests != rate {
			t.Errorf("two honest workers: %v, check %+v, %d requests; want it passed, %d", err, c, f.Requests, rate)
		}
	})
}

// TestCoordinatorLosesAWorkerThatNeverEnds checks that a worker that beats for ever instead of
// ending is lost once the schedule, its timeout and endGrace have passed (the attack does not
// wait for it for ever), and one whose end frame carries an error cuts the attack, naming it.
func TestCoordinatorLosesAWorkerThatNeverEnds(t *testing.T) {
	failed := func(_ Plan, _ time.Time, rs []vegeta.Result, e *end) []vegeta.Result {
		e.Error = "pacer panicked: boom"
		return rs
	}
	tests := []struct {
		name    string
		lie     liar
		forever bool
		want    string // after "worker ADDR "
		why     string
	}{
		{"never ends", nil, true, "lost", "did not end by 6s after the schedule's end"},
		{"ends with an error", failed, false, "failed", "pacer panicked: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := hostileWorker(t, tt.lie, tt.forever)
			co := dial(t, []string{a}, Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cfg := steadyConfig("http://127.0.0.1:1", "", 20, time.Second)
			cfg.Timeout = time.Second
			start := time.Now()
			f, err := co.Attack(ctx, cfg)
			if err != nil || !f.Interrupted || !strings.Contains(f.Cut, "worker "+a+" "+tt.want) || !strings.Contains(f.Cut, tt.why) || time.Since(start) > 10*time.Second {
				t.Errorf("Attack = %v after %s, cut %q; want the worker %s (%s), by 1s + 1s + %s", err, time.Since(start), f.Cut, tt.want, tt.why, endGrace)
			}
		})
	}
}

// TestCoordinatorBoundsAFrame checks that a result frame that claims 4 million headers (8 MB of
// them) is refused before anything is sized by the claim: the worker is lost, naming why, and the
// coordinator allocates about what it read.
func TestCoordinatorBoundsAFrame(t *testing.T) {
	const claim = 4_000_000
	a := fakeWorker(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK) // the answer before the start time, the frame after
		_ = http.NewResponseController(w).Flush()
		t0 := time.Now()
		r := vegeta.Result{Timestamp: t0.Add(50 * time.Millisecond), Latency: time.Millisecond, Code: 200, Method: "GET", URL: "http://h/"}
		payload := appendResult(nil, &r, t0)
		payload = binary.AppendUvarint(payload[:len(payload)-1], claim) // the header count, then claim empty headers
		payload = append(payload, make([]byte, 2*claim)...)
		_, _ = w.Write(append(appendHead(nil, frameResult, len(payload)), payload...))
	})
	co := dial(t, []string{a}, Options{})
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := co.Attack(context.Background(), steadyConfig("http://127.0.0.1:1", "", 20, time.Second))
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d MB during the attack", alloc>>20)
	if err != nil || !strings.Contains(f.Cut, "worker "+a+" lost") || !strings.Contains(f.Cut, "4000000 headers") {
		t.Errorf("Attack = %v, cut %q; want the worker lost for its header count", err, f.Cut)
	}
	if alloc > 64<<20 {
		t.Errorf("the coordinator allocated %d MB for a frame of %d MB", alloc>>20, 2*claim>>20)
	}
}
