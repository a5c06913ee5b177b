package fleet

import (
	"context"
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

// TestWorkerRefusesPlansOutOfBounds: every plan number past its bound is a 400 with the
// reason, nothing is sent, and the worker lives on to take a good plan. Before the bounds, the
// first plan killed the process (vegeta's pacer divides by its interval, 0) and the next ones
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

// TestPacerPanicEndsTheAttack: a panic in the pacer, which runs in vegeta's goroutine where it
// would end the process, stops the schedule and is recorded as the attack's error.
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

// TestWorkerStopsForADeafCoordinator: a coordinator that takes a plan and then reads nothing.
// Before the write deadline, every due hit parked a goroutine on its result (vegeta starts a
// worker when all are busy) and the worker grew at the full rate for as long as the attack
// lasted. Now it stops once a write has blocked for stallAfter: its goroutines stay under what
// that many seconds of hits can park, and go back to the baseline.
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

// TestWorkerServerTimeouts: a client that sends a request's headers and then not the body it
// announced is cut off after the read timeout, instead of holding a connection and a
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
