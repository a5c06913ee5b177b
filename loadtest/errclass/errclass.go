// Package errclass names the class of a failed request from its transport error: the one place
// that reads net/http's and the syscall layer's error text (vegeta keeps only the string).
// attack.Classify puts HTTP statuses first and asks this package for the rest; the shutdown
// scenario's probes, the Jaeger keeper and the dashboards' proof ask it too. It is outside
// loadtest/internal so that dashboards/proof can import it.
package errclass

import (
	"errors"
	"strings"
	"syscall"
)

// Transport error classes of docs/contracts.md (loadtest_errors_total and summary error_classes).
const (
	Timeout   = "timeout"
	Refused   = "refused"
	Reset     = "reset"
	EOF       = "eof"
	Cancelled = "cancelled"
	Other     = "other"
)

// Of returns the class of a transport error message (Other when none matches, "" included).
func Of(msg string) string {
	switch {
	// The client timeout first: its message also says "context deadline exceeded" or
	// "request canceled", and it is a timeout, not a cancel.
	case strings.Contains(msg, "Client.Timeout"), strings.Contains(msg, "deadline exceeded"),
		strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "timeout awaiting"):
		return Timeout
	case strings.Contains(msg, "connection refused"):
		return Refused
	case strings.Contains(msg, "connection reset"), strings.Contains(msg, "broken pipe"):
		return Reset
	case strings.HasSuffix(msg, "EOF"), strings.Contains(msg, "EOF:"), strings.Contains(msg, "server closed idle connection"):
		return EOF
	// "use of closed network connection": only an interrupt closes the client's connections
	// under a request (see attack's connSet).
	case strings.Contains(msg, "context canceled"), strings.Contains(msg, "request canceled"),
		strings.Contains(msg, "operation was canceled"), strings.Contains(msg, "use of closed network connection"):
		return Cancelled
	default:
		return Other
	}
}

// OfErr returns the class of err ("" when it is nil). A wrapped ECONNREFUSED is Refused whatever
// the text says; the rest is classified by Of.
func OfErr(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	}
	return Of(err.Error())
}

// WithLocal returns err with the client's local address of its connection in its message,
// "(local 127.0.0.1:40000) " in front: the peer the server's kernel saw, which is how a failed
// request is matched to a connection reset in the accept queue (netsig). Of reads through it.
func WithLocal(err error, local string) error { return &localError{local: local, err: err} }

type localError struct {
	local string
	err   error
}

func (e *localError) Error() string { return localTag + e.local + ") " + e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

const localTag = "(local "

// Local returns the client's local address that a result's error message names (WithLocal),
// and whether it names one.
func Local(msg string) (string, bool) {
	_, rest, ok := strings.Cut(msg, localTag)
	if !ok {
		return "", false
	}
	addr, _, ok := strings.Cut(rest, ")")
	return addr, ok && addr != ""
}
