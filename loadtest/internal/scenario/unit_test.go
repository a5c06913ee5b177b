package scenario

import (
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
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
