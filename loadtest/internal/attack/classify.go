package attack

import (
	"strings"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Error classes of docs/contracts.md (loadtest_errors_total and summary error_classes).
const (
	ClassTimeout   = "timeout"
	ClassRefused   = "refused"
	ClassReset     = "reset"
	ClassEOF       = "eof"
	ClassCancelled = "cancelled"
	Class4xx       = "http_4xx"
	Class5xx       = "http_5xx"
	ClassOther     = "other"
)

// Success reports whether vegeta counts r as a success (status 2xx or 3xx, as `vegeta report`
// does), so the engine's success ratio and vegeta's agree.
func Success(r *vegeta.Result) bool { return r.Code >= 200 && r.Code < 400 }

// Classify returns the error class of r, or "" when it succeeded. HTTP statuses win over the
// error text; transport errors are told apart by the error strings of net/http and the syscall
// layer (vegeta keeps only the string).
func Classify(r *vegeta.Result) string {
	switch {
	case Success(r):
		return ""
	case r.Code >= 500:
		return Class5xx
	case r.Code >= 400:
		return Class4xx
	}
	e := r.Error
	switch {
	// The client timeout first: its message also says "context deadline exceeded" or
	// "request canceled", and it is a timeout, not a cancel.
	case strings.Contains(e, "Client.Timeout"), strings.Contains(e, "deadline exceeded"),
		strings.Contains(e, "i/o timeout"), strings.Contains(e, "timeout awaiting"):
		return ClassTimeout
	case strings.Contains(e, "connection refused"):
		return ClassRefused
	case strings.Contains(e, "connection reset"), strings.Contains(e, "broken pipe"):
		return ClassReset
	case strings.HasSuffix(e, "EOF"), strings.Contains(e, "EOF:"), strings.Contains(e, "server closed idle connection"):
		return ClassEOF
	// "use of closed network connection": only an interrupt closes the client's connections
	// under a request (see connSet).
	case strings.Contains(e, "context canceled"), strings.Contains(e, "request canceled"),
		strings.Contains(e, "operation was canceled"), strings.Contains(e, "use of closed network connection"):
		return ClassCancelled
	default:
		return ClassOther
	}
}
