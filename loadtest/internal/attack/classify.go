package attack

import (
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/errclass"
)

// Error classes of docs/contracts.md (loadtest_errors_total and summary error_classes): the
// transport classes of package errclass and the two HTTP status classes.
const (
	ClassTimeout   = errclass.Timeout
	ClassRefused   = errclass.Refused
	ClassReset     = errclass.Reset
	ClassEOF       = errclass.EOF
	ClassCancelled = errclass.Cancelled
	Class4xx       = "http_4xx"
	Class5xx       = "http_5xx"
	ClassOther     = errclass.Other
)

// Success reports whether vegeta counts r as a success (status 2xx or 3xx, as `vegeta report`
// does), so the engine's success ratio and vegeta's agree.
func Success(r *vegeta.Result) bool { return r.Code >= 200 && r.Code < 400 }

// Classify returns the error class of r, or "" when it succeeded. HTTP statuses win over the
// error text; transport errors are classified by errclass.Of.
func Classify(r *vegeta.Result) string {
	switch {
	case Success(r):
		return ""
	case r.Code >= 500:
		return Class5xx
	case r.Code >= 400:
		return Class4xx
	}
	return errclass.Of(r.Error)
}
