package scenario

import (
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
	got := missing([]int64{5, 1, 9, 3}, []int64{1, 3})
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
		{"cancel's default: 5/s held 0.2 s", Settings{}, 5, 200 * time.Millisecond, 9}, // 1 + 4·1, + 4
		{"shutdown's default: 5/s held 1 s", Settings{}, 5, time.Second, 18},           // 5 + 4·√5 = 13.9 → 14, + 4
		{"the setting wins", Settings{Pool: 1}, 5, time.Second, 1},
	}
	for _, tt := range tests {
		if got := poolFor(tt.set, tt.heldRate, tt.hold); got != tt.want {
			t.Errorf("%s: poolFor = %d, want %d", tt.name, got, tt.want)
		}
	}
}
