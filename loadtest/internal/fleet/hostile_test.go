package fleet

import (
	"io"
	"net/http"
	"strings"
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
