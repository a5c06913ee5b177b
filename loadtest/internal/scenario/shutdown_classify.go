package scenario

import (
	"encoding/json"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
)

// The shutdown classes of a result (summary.ShutdownStats.Classes keys).
const (
	CompletedBefore = "completed_before" // answered (not 5xx) before SIGTERM
	CompletedAfter  = "completed_after"  // answered (not 5xx) at or after SIGTERM: drained
	Refused         = "refused"          // never accepted: connection refused, or sent on a connection the server had closed while idle
	// AcceptQueueReset: the kernel completed the connection into the listener's accept queue,
	// the server never accepted it, and closing the listener reset it (seen by netsig).
	AcceptQueueReset = "accept_queue_reset"
	Lost             = "lost" // accepted, then reset, EOF, timed out or answered 5xx
)

// classify sorts one result of the shutdown scenario relative to the SIGTERM time.
//
// "Refused" is expected during a drain: the listener is closed, so a new connection fails
// before the server has taken the request. Go's transport reports a request written onto a
// keep-alive connection the server had already closed as "server closed idle connection": the
// server never read it, so it was not accepted either. A reset or EOF after SIGTERM on a
// connection the kernel's readings saw waiting in the accept queue (queued, by the client's
// local address), or that no reading saw and that arrived after the last reading before the
// listener closed, is AcceptQueueReset: the server process never had it. Anything else that ends
// without a non-5xx response was accepted and dropped. queued may be nil (the queue was not read).
func classify(r *vegeta.Result, sigterm time.Time, queued func(errMsg string, sent, end time.Time) bool) string {
	if r.Code != 0 && r.Code < 500 {
		if r.End().Before(sigterm) {
			return CompletedBefore
		}
		return CompletedAfter
	}
	if r.Code == 0 && (attack.Classify(r) == attack.ClassRefused || unaccepted(r.Error)) {
		return Refused
	}
	if r.Code == 0 && queued != nil && !r.End().Before(sigterm) && resetOrEOF(r) && queued(r.Error, r.Timestamp, r.End()) {
		return AcceptQueueReset
	}
	return Lost
}

func resetOrEOF(r *vegeta.Result) bool {
	c := attack.Classify(r)
	return c == attack.ClassEOF || c == attack.ClassReset
}

// closeWindow bounds "near the listener's close" where the accept queue could not be read
// (a server on another machine): see shutdownRun.uncertainAtClose.
const closeWindow = 50 * time.Millisecond

// nearClose reports whether r failed with an EOF or a reset, sent at most w before the listener
// closed and failed at most w after.
func nearClose(r *vegeta.Result, closed time.Time, w time.Duration) bool {
	return resetOrEOF(r) && !closed.IsZero() && !r.Timestamp.Before(closed.Add(-w)) && !r.End().After(closed.Add(w))
}

// unaccepted reports whether a failure other than a refused connection still shows the server
// never had the request.
func unaccepted(msg string) bool {
	return strings.Contains(msg, "server closed idle connection") ||
		// Any failure while connecting ("dial tcp ...: connect: connection reset by peer" is
		// a connection still in the listen backlog when the listener closed): the request was
		// never written, so the server never had it.
		strings.Contains(msg, "dial tcp")
}

// createdID returns the id of a POST answered 201 from its body ({"id":N,...}), and whether it
// was one.
func createdID(r *vegeta.Result) (int64, bool) {
	if r.Method != "POST" || r.Code != 201 {
		return 0, false
	}
	var item struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(r.Body, &item); err != nil || item.ID == 0 {
		return 0, false
	}
	return item.ID, true
}
