package fleet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// These tests run workers in this process on real loopback sockets against a real HTTP
// target; loadtest's tests run them as processes beside the real server.

// target answers 200 to GETs and 201 to POSTs, and counts the requests.
func target(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		io.WriteString(w, `{"id":1}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// testKey is the worker key of these tests' workers and coordinators.
const testKey = "fleet-test-key-0123456789abcdef0123456789"

// startWorker serves a worker (key testKey unless o has one) on a free loopback port until the
// test ends.
func startWorker(t *testing.T, o WorkerOptions) (string, *http.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.Key == "" {
		o.Key = testKey
	}
	w, err := NewWorker(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := w.Server()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), srv
}

func dial(t *testing.T, addrs []string, o Options) *Coordinator {
	t.Helper()
	if o.Wait == 0 {
		o.Wait = 5 * time.Second
	}
	if o.Key == "" {
		o.Key = testKey
	}
	c, err := Dial(context.Background(), strings.Join(addrs, ","), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func steadyConfig(url, results string, rate int, d time.Duration) attack.Config {
	return attack.Config{Scenario: "steady", Pacer: vegeta.ConstantPacer{Freq: rate, Per: time.Second}, Duration: d,
		Targets: attack.TargetOptions{BaseURL: url, Seed: 1, Requests: []vegeta.Target{
			{Method: "GET", URL: "http://svc/items"}, {Method: "GET", URL: "http://svc/items"}, {Method: "GET", URL: "http://svc/items"},
			{Method: "GET", URL: "http://svc/items"}, {Method: "POST", URL: "http://svc/item", Body: []byte(`{"name":"x"}`)}}}, Timeout: 5 * time.Second,
		KeepAlive: true, ResultsPath: results, MaxLatenessP99: time.Second}
}

func check(f attack.Figures, name string) summary.Check {
	for _, c := range f.Checks {
		if c.Name == name {
			return c
		}
	}
	return summary.Check{Name: name + " (missing)"}
}

// TestOneScheduleOverThreeWorkers checks that three workers, one with a clock 2 s ahead, send one
// schedule: every sequence number once, each worker a third, the windows as one process's, the
// skewed worker's offset measured and corrected.
func TestOneScheduleOverThreeWorkers(t *testing.T) {
	srv, hits := target(t)
	a, _ := startWorker(t, WorkerOptions{})
	b, _ := startWorker(t, WorkerOptions{})
	c, _ := startWorker(t, WorkerOptions{ClockSkew: 2 * time.Second})
	co := dial(t, []string{a, b, c}, Options{})
	bin := filepath.Join(t.TempDir(), "steady.bin")
	f, err := co.Attack(context.Background(), steadyConfig(srv.URL, bin, 90, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if f.Scheduled != 180 || f.Requests < 179 || f.Interrupted || hits.Load() != f.Requests {
		t.Fatalf("requests %d of %d scheduled (target saw %d, %d not counted), interrupted %v", f.Requests, f.Scheduled, hits.Load(), f.Warmups, f.Interrupted)
	}
	seqs := readSeqs(t, bin)
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != uint64(i) {
			t.Fatalf("the merged .bin's sequence numbers are not 0..%d once each: %d at %d", len(seqs)-1, s, i)
		}
	}
	if len(f.Windows) != 2 || f.Windows[0].Requests < 89 || f.Windows[1].Requests < 89 {
		t.Errorf("windows %+v, want two of 90", f.Windows)
	}
	var firsts []float64
	for i, w := range f.Workers {
		if w.Scheduled != 60 || w.Requests < 59 || w.Addr != co.Addrs()[i] {
			t.Errorf("worker %d: %+v, want 60 of its 60", i, w)
		}
		firsts = append(firsts, w.FirstSendLateMs)
	}
	if off := f.Workers[2].ClockOffsetMs; off < 1990 || off > 2010 {
		t.Errorf("skewed worker's offset %.3f ms, want 2000 ± 10", off)
	}
	if skew := slices.Max(firsts) - slices.Min(firsts); skew > 50 {
		t.Errorf("start skew %.2f ms (first sends %v): the 2 s clock was not corrected", skew, firsts)
	}
	for _, name := range []string{"worker clocks", "workers kept up", "generator rate"} {
		if c := check(f, name); !c.Pass {
			t.Errorf("check %+v", c)
		}
	}
}

func readSeqs(t *testing.T, path string) []uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := vegeta.NewDecoder(bytes.NewReader(b))
	var seqs []uint64
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) {
				return seqs
			}
			t.Fatal(err)
		}
		seqs = append(seqs, r.Seq)
	}
}

// TestLostWorkerCutsTheAttack checks that a worker whose connections die mid-attack is named, the
// attack stops, and what arrived is kept.
func TestLostWorkerCutsTheAttack(t *testing.T) {
	srv, _ := target(t)
	a, _ := startWorker(t, WorkerOptions{})
	b, bsrv := startWorker(t, WorkerOptions{})
	co := dial(t, []string{a, b}, Options{})
	time.AfterFunc(1200*time.Millisecond, func() { bsrv.Close() })
	start := time.Now()
	f, err := co.Attack(context.Background(), steadyConfig(srv.URL, "", 40, 4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Interrupted || !strings.Contains(f.Cut, "worker "+b+" lost") || f.Workers[1].Lost == "" || f.Workers[0].Lost != "" {
		t.Fatalf("interrupted %v, cut %q, rows %+v; want cut naming %s", f.Interrupted, f.Cut, f.Workers, b)
	}
	if f.Requests < 20 || f.Requests > 120 || time.Since(start) > 3500*time.Millisecond {
		t.Errorf("%d requests kept, took %s; want the first ~1.2 s kept and the attack stopped then", f.Requests, time.Since(start))
	}
}

// TestNeverReadyIsNamed checks that Dial gives up after its wait and names the worker that never
// came.
func TestNeverReadyIsNamed(t *testing.T) {
	a, _ := startWorker(t, WorkerOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	start := time.Now()
	_, err = Dial(context.Background(), a+","+gone, Options{Wait: 600 * time.Millisecond, Key: testKey})
	if err == nil || !strings.Contains(err.Error(), "worker "+gone) || strings.Contains(err.Error(), "worker "+a) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Dial = %v; want one line naming %s only", err, gone)
	}
	if d := time.Since(start); d < 600*time.Millisecond || d > 3*time.Second {
		t.Errorf("gave up after %s, want its 600 ms wait", d)
	}
}

// TestWorkerKey checks that a worker refuses to exist without a key of MinKeyLen bytes, and
// refuses every request without it, /v1/ready included (its PID and boot id are nobody else's
// business); a coordinator refuses to dial without one.
func TestWorkerKey(t *testing.T) {
	for _, key := range []string{"", "s3cret", testKey[:MinKeyLen-1]} {
		if _, err := NewWorker(WorkerOptions{Key: key}); err == nil || (key != "" && strings.Contains(err.Error(), key)) {
			t.Errorf("NewWorker with a key of %d bytes = %v; want refused, the key not quoted", len(key), err)
		}
		if _, err := Dial(context.Background(), "127.0.0.1:1", Options{Key: key, Wait: time.Millisecond}); err == nil || !strings.Contains(err.Error(), "LOADTEST_WORKER_KEY") {
			t.Errorf("Dial with a key of %d bytes = %v; want refused naming LOADTEST_WORKER_KEY", len(key), err)
		}
	}
	a, _ := startWorker(t, WorkerOptions{})
	for _, path := range []string{"/v1/ready", "/v1/clock"} {
		code, body := call(t, http.MethodGet, a, path, "", nil)
		if code != http.StatusUnauthorized || strings.Contains(body, "pid") || strings.Contains(body, "unix_nano") {
			t.Errorf("GET %s without the key: %d %q; want 401 and nothing of the worker", path, code, body)
		}
	}
	other := strings.Repeat("x", len(testKey))
	if _, err := Dial(context.Background(), a, Options{Key: other, Wait: 300 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Dial with another key = %v, want 401", err)
	}
	dial(t, []string{a}, Options{})
}

// TestWorkerThrottlesWrongKeys checks that a client that sent authBurst wrong keys is refused
// (429) without its next key being looked at, the right one included, until its budget refills.
func TestWorkerThrottlesWrongKeys(t *testing.T) {
	a, _ := startWorker(t, WorkerOptions{})
	wrong := strings.Repeat("y", len(testKey))
	for i := range authBurst {
		if code, _ := call(t, http.MethodGet, a, "/v1/clock", wrong, nil); code != http.StatusUnauthorized {
			t.Fatalf("wrong key %d: %d, want 401", i+1, code)
		}
	}
	for _, key := range []string{wrong, testKey} {
		if code, _ := call(t, http.MethodGet, a, "/v1/clock", key, nil); code != http.StatusTooManyRequests {
			t.Errorf("after %d wrong keys, a key (right: %v): %d, want 429 without looking", authBurst, key == testKey, code)
		}
	}
	time.Sleep(authEvery + 100*time.Millisecond)
	if code, body := call(t, http.MethodGet, a, "/v1/clock", testKey, nil); code != http.StatusOK {
		t.Errorf("the right key %s after the refill: %d %q, want 200", authEvery, code, body)
	}
}

// call sends one control request with key (empty: none) and returns the status and up to
// 1 KiB of the body.
func call(t *testing.T, method, addr, path, key string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return resp.StatusCode, string(b)
}

// TestWorkerNeverStartsOnItsOwn checks that a plan without a start time is refused and nothing is
// sent; a worker whose coordinator goes away mid-attack stops sending and is free again.
func TestWorkerNeverStartsOnItsOwn(t *testing.T) {
	srv, hits := target(t)
	a, _ := startWorker(t, WorkerOptions{})
	plan, err := planFor(steadyConfig(srv.URL, "", 50, 10*time.Second), attack.Shard{Index: 0, Count: 1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	plan.StartUnixNano = 0
	if code, body := post(t, a, plan, nil); code != http.StatusBadRequest || !strings.Contains(body, "no start time") {
		t.Fatalf("plan without a start: %d %q, want 400 no start time", code, body)
	}
	plan.StartUnixNano = time.Now().Add(300 * time.Millisecond).UnixNano()
	ctx, cancel := context.WithCancel(context.Background())
	accepted := make(chan struct{})
	go post(t, a, plan, func(r io.Reader) {
		close(accepted)
		br := bufio.NewReader(r)
		var buf []byte
		for {
			if _, _, err := readFrame(br, &buf); err != nil || ctx.Err() != nil {
				return
			}
		}
	})
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("the worker did not take a plan with a start time")
	}
	if code, body := post(t, a, plan, nil); code != http.StatusConflict {
		t.Errorf("second plan while one runs: %d %q, want 409", code, body)
	}
	time.Sleep(time.Second)
	cancel() // the coordinator goes: the reader stops and closes the connection
	time.Sleep(500 * time.Millisecond)
	sent := hits.Load()
	time.Sleep(500 * time.Millisecond)
	if sent == 0 || hits.Load() != sent {
		t.Errorf("target saw %d requests, then %d: want some, then none once the coordinator left", sent, hits.Load())
	}
	var r readiness
	co := &Coordinator{o: Options{Key: testKey}, control: newClient(time.Second)}
	if err := co.get(context.Background(), a, "/v1/ready", &r); err != nil || r.Busy {
		t.Errorf("ready after the coordinator left: %+v, %v; want not busy", r, err)
	}
}

// post sends a plan to a worker; read, when set, reads a 200's stream until it returns.
func post(t *testing.T, addr string, p Plan, read func(io.Reader)) (int, string) {
	t.Helper()
	b, _ := json.Marshal(p)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/attack", bytes.NewReader(b))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && read != nil {
		read(resp.Body)
		return resp.StatusCode, ""
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return resp.StatusCode, string(body)
}

func TestPlanShares(t *testing.T) {
	var workers, maxWorkers uint64
	for i := range 3 {
		p, err := planFor(attack.Config{Scenario: "s", Pacer: vegeta.ConstantPacer{Freq: 10, Per: time.Second},
			Targets: attack.TargetOptions{BaseURL: "http://h", Requests: []vegeta.Target{{Method: "GET", URL: "http://h/"}}}, Workers: 10, MaxWorkers: 32}, attack.Shard{Index: i, Count: 3}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		workers, maxWorkers = workers+p.Workers, maxWorkers+p.MaxWorkers
	}
	if workers != 10 || maxWorkers != 32 {
		t.Errorf("the shards' workers add up to %d and %d, want the one process's 10 and 32", workers, maxWorkers)
	}
	for _, cfg := range []attack.Config{
		{Pacer: vegeta.LinearPacer{StartAt: vegeta.Rate{Freq: 1, Per: time.Second}, Slope: 1}, Targets: attack.TargetOptions{BaseURL: "http://h", Requests: []vegeta.Target{{Method: "GET", URL: "http://h/"}}}},
		{Pacer: vegeta.ConstantPacer{Freq: 1, Per: time.Second}, Targeter: vegeta.NewStaticTargeter()},
	} {
		if _, err := planFor(cfg, attack.Shard{Count: 2}, time.Now()); err == nil {
			t.Errorf("planFor(%T pacer, targeter %v) accepted: a worker cannot rebuild it", cfg.Pacer, cfg.Targeter != nil)
		}
	}
}

// TestShardsEndWhereOneProcessEnds simulates vegeta's attack loop (check the duration, pace,
// sleep, send): once for the whole schedule, once per shard with the worker's pacer, and checks
// that the shards send exactly the hits the one process counts (due by the end), and that the
// one process sends at most one more (the one its loop paces just before the end).
func TestShardsEndWhereOneProcessEnds(t *testing.T) {
	tests := []struct {
		freq int
		d    time.Duration
		n    int
	}{
		{90, 2 * time.Second, 3},
		{3, 1500 * time.Millisecond, 2},
		{7, time.Second, 3},
		{150, 3500 * time.Millisecond, 3},
		{6400, time.Second, 3},
		{100, time.Second, 1},
	}
	for _, tt := range tests {
		whole := vegeta.ConstantPacer{Freq: tt.freq, Per: time.Second}
		var sent, want []uint64
		simulateLoop(tt.d, whole.Pace, func(seq uint64) {
			sent = append(sent, seq)
			if due, _ := attack.IntendedOffset(whole, seq); due <= tt.d {
				want = append(want, seq)
			}
		})
		var got []uint64
		for i := range tt.n {
			p := Plan{Freq: tt.freq, Per: time.Second, Duration: tt.d, Shard: attack.Shard{Index: i, Count: tt.n}}
			a := p.anchored(attack.ShardPacer{Pacer: whole, Shard: p.Shard}, time.Time{}, nil)
			simulateLoop(0, a.paceAt, func(j uint64) { got = append(got, p.Shard.Global(j)) })
		}
		slices.Sort(got)
		if !slices.Equal(got, want) || len(sent)-len(want) > 1 {
			t.Errorf("%d/s for %s over %d: shards send %v…%v (%d), one process %d of which %d due by the end (%v…%v)",
				tt.freq, tt.d, tt.n, got[:3], got[len(got)-3:], len(got), len(sent), len(want), want[:3], want[len(want)-3:])
		}
	}
}

// simulateLoop is vegeta's attack loop on a simulated clock: stop once elapsed exceeds du (0:
// never), else pace, sleep and send, a send taking a nanosecond (a real one is never exactly on
// time, which decides whether the hit due exactly at the end is the last).
func simulateLoop(du time.Duration, pace func(time.Duration, uint64) (time.Duration, bool), send func(uint64)) {
	var elapsed time.Duration
	for hits := uint64(0); hits < 1e6; hits++ {
		if du > 0 && elapsed > du {
			return
		}
		wait, stop := pace(elapsed, hits)
		if stop {
			return
		}
		elapsed += max(wait, 0) + time.Nanosecond
		send(hits)
	}
}
