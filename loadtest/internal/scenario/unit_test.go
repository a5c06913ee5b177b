package scenario

import (
	"context"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

func TestClassify(t *testing.T) {
	sigterm := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	before, after := sigterm.Add(-time.Second), sigterm.Add(time.Millisecond)
	closed := sigterm.Add(300 * time.Millisecond)
	tests := []struct {
		name string
		res  vegeta.Result
		want string
	}{
		{"answered before", vegeta.Result{Code: 200, Timestamp: before, Latency: 10 * time.Millisecond}, CompletedBefore},
		{"answered across SIGTERM", vegeta.Result{Code: 201, Timestamp: before, Latency: 2 * time.Second}, CompletedAfter},
		{"4xx is an answer", vegeta.Result{Code: 400, Timestamp: after}, CompletedAfter},
		{"refused", vegeta.Result{Timestamp: after, Error: "dial tcp 127.0.0.1:1: connect: connection refused"}, Refused},
		{"idle connection closed", vegeta.Result{Timestamp: after, Error: "http: server closed idle connection"}, Refused},
		{"reset while connecting", vegeta.Result{Timestamp: after, Error: "dial tcp 127.0.0.1:1: connect: connection reset by peer"}, Refused},
		{"EOF of a connection in the backlog at close", vegeta.Result{Timestamp: closed.Add(-10 * time.Millisecond), Latency: 15 * time.Millisecond, Error: `Get "x": EOF`}, Refused},
		{"EOF of a request in flight before the close", vegeta.Result{Timestamp: closed.Add(-200 * time.Millisecond), Latency: 200 * time.Millisecond, Error: `Get "x": EOF`}, Lost},
		{"timeout at close", vegeta.Result{Timestamp: closed.Add(-10 * time.Millisecond), Latency: 15 * time.Millisecond, Error: "Client.Timeout exceeded"}, Lost},
		{"EOF", vegeta.Result{Timestamp: before, Latency: 2 * time.Second, Error: `Get "x": EOF`}, Lost},
		{"reset", vegeta.Result{Timestamp: before, Error: "read: connection reset by peer"}, Lost},
		{"503", vegeta.Result{Code: 503, Timestamp: after}, Lost},
		{"timeout", vegeta.Result{Timestamp: before, Error: "Client.Timeout exceeded"}, Lost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(&tt.res, sigterm, closed); got != tt.want {
				t.Errorf("classify = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	got := missingFrom([]int64{5, 1, 9, 3}, []int64{1, 3})
	if len(got) != 2 || got[0] != 5 || got[1] != 9 {
		t.Errorf("missing = %v, want [5 9]", got)
	}
}

func TestCancelsSeenCheck(t *testing.T) {
	tests := []struct {
		sent, seen  int64
		scrapeFail  bool
		generatorOK bool
		pass        bool
		kind        summary.CheckKind
	}{
		{94, 94, false, true, true, summary.Correctness},
		{94, 92, false, true, true, summary.Correctness},    // a timeout that raced its answer: within the slack of 2
		{94, 656, false, true, false, summary.Correctness},  // the server cancelled far more than the client gave up on
		{94, 656, false, false, false, summary.Correctness}, // ... even on a starved machine
		{94, 10, false, true, false, summary.Correctness},   // cancels the server never noticed
		{111, 101, false, false, false, summary.Validity},   // starved: timeouts before the server read them
		{500, 490, false, true, true, summary.Correctness},  // 2 % of 500
		{94, 94, true, true, false, summary.Correctness},    // /metrics unreadable: nothing seen
	}
	for _, tt := range tests {
		c := &cancelRun{}
		got := c.seenCheck(&summary.CancelStats{CancelsSent: tt.sent, CancelsSeen: tt.seen}, summary.Sample{ScrapeFailed: tt.scrapeFail}, tt.generatorOK)
		if got.Pass != tt.pass || got.Kind != tt.kind {
			t.Errorf("sent %d, seen %d, scrape failed %v, generator ok %v: pass %v %s, want %v %s (%s, want %s)",
				tt.sent, tt.seen, tt.scrapeFail, tt.generatorOK, got.Pass, got.Kind, tt.pass, tt.kind, got.Got, got.Want)
		}
	}
}

func TestPoolFor(t *testing.T) {
	tests := []struct {
		name     string
		set      Settings
		heldRate float64
		hold     time.Duration
		want     int
	}{
		{"no held requests: the default", Settings{}, 0, 0, defaultPool},
		{"cancel's default: 5/s held 0.6 s", Settings{}, 5, 600 * time.Millisecond, 14}, // 3 + 4·√3 = 9.9 → 10, + 4
		{"shutdown's default: 5/s held 1 s", Settings{}, 5, time.Second, 18},            // 5 + 4·√5 = 13.9 → 14, + 4
		{"the setting wins", Settings{Pool: 1}, 5, time.Second, 1},
	}
	for _, tt := range tests {
		if got := poolFor(tt.set, tt.heldRate, tt.hold); got != tt.want {
			t.Errorf("%s: poolFor = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestLostAtCloseOnASlowMachine: losses at the listener's close within the machine's measured
// scheduling delay are INVALID (a backlog reset cannot be told from a drop); a loss away from the
// close, or any loss on a machine that kept time, stays a FAIL.
func TestLostAtCloseOnASlowMachine(t *testing.T) {
	sigterm := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	closed := sigterm.Add(300 * time.Millisecond)
	atClose := shutdownResult{ts: closed.Add(-35 * time.Millisecond), latency: 328 * time.Millisecond, err: `Get "x": EOF`}
	held := shutdownResult{ts: sigterm.Add(-time.Second), latency: 1400 * time.Millisecond, err: `Get "x": EOF`, delayed: true}
	tests := []struct {
		name     string
		results  []shutdownResult
		lateness float64 // send lateness p99, ms
		kind     summary.CheckKind
	}{
		{"slow machine, every loss at the close", []shutdownResult{atClose}, 400, summary.Validity},
		{"a machine that kept time", []shutdownResult{atClose}, 20, summary.Correctness},
		{"slow machine, a held request cut too", []shutdownResult{atClose, held}, 400, summary.Correctness},
	}
	for _, tt := range tests {
		s := &shutdownRun{results: tt.results, sigtermAt: sigterm, closed: closed}
		ss := &summary.ShutdownStats{Classes: map[string]int64{Lost: int64(len(tt.results))}}
		lost := []summary.Request{{Error: "EOF"}}
		ch := s.lostCheck(ss, lost, 0, tt.lateness)
		if ch.Pass || ch.Kind != tt.kind {
			t.Errorf("%s: pass %v, kind %s; want a failed %s check (%s)", tt.name, ch.Pass, ch.Kind, tt.kind, ch.Got)
		}
	}
}

func TestSignalsLast(t *testing.T) {
	all, err := Select([]string{"steady", "cancel", "shutdown", "shutdown-short-drain", "ramp"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range SignalsLast(all) {
		names = append(names, s.Name)
	}
	if got, want := strings.Join(names, ","), "steady,cancel,ramp,shutdown,shutdown-short-drain"; got != want {
		t.Errorf("SignalsLast = %s, want %s", got, want)
	}
}

// TestExternalSkipsManagedOnly: with a -signal-cmd the shutdown scenario runs against an
// external target, but shutdown-short-drain tests a drain timeout only the harness can give
// a server, so it is skipped with that reason.
func TestExternalSkipsManagedOnly(t *testing.T) {
	scs, _ := Select([]string{"shutdown-short-drain"})
	rn := &Runner{Managed: false, Terminate: true, Launch: func(context.Context, LaunchSpec) (Server, error) {
		t.Fatal("launched a server for a scenario that must be skipped")
		return Server{}, nil
	}}
	out, _, err := rn.RunAll(context.Background(), scs)
	if err != nil || out[0].Verdict != summary.Skipped || !strings.Contains(strings.Join(out[0].Reasons, ";"), "only a server the harness starts") {
		t.Fatalf("shutdown-short-drain against an external target: %+v, %v", out, err)
	}
}
