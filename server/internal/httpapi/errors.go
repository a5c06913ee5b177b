package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/benchharness/benchharness/server/internal/auth"
	"github.com/benchharness/benchharness/server/internal/item"
	"github.com/benchharness/benchharness/server/internal/postgres"
)

// StatusClientClosedRequest is recorded (metrics, span, log) when the client went away before
// the response; nginx's convention. Nobody receives it.
const StatusClientClosedRequest = 499

// retryAfter is the Retry-After of a 503, in seconds.
const retryAfter = "1"

// problem is an error that already knows its HTTP status (bad query, wrong content type, ...).
type problem struct {
	status int
	detail string
}

func (p *problem) Error() string { return p.detail }

var (
	errNotFound         = &problem{http.StatusNotFound, "no such route"}
	errMethodNotAllowed = &problem{http.StatusMethodNotAllowed, "method not allowed on this route"}
)

// problemBody is an RFC 9457 problem document.
type problemBody struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Status  int    `json:"status"`
	Detail  string `json:"detail,omitempty"`
	TraceID string `json:"trace_id,omitempty"`
}

// status is the one place that maps errors to HTTP statuses.
func status(r *http.Request, err error) (int, string) {
	var p *problem
	switch {
	case errors.As(err, &p):
		return p.status, p.detail
	case errors.Is(err, item.ErrInvalid):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, auth.ErrMissing):
		return http.StatusUnauthorized, auth.ErrMissing.Error()
	case errors.Is(err, auth.ErrInvalid):
		// A fixed reason: the parser's message quotes claims it decoded before it checked the
		// signature, i.e. whatever an attacker wrote.
		return http.StatusUnauthorized, auth.ErrInvalid.Error()
	case r.Context().Err() != nil:
		// Checked on the request's context, not on err: the client went away, whatever the
		// query answered (a context error, or 57014 from the cancel request).
		return StatusClientClosedRequest, "client closed request"
	case errors.Is(err, postgres.ErrBusy):
		return http.StatusServiceUnavailable, "no database connection free"
	case errors.Is(err, context.DeadlineExceeded):
		// The request deadline (queryContext) or PostgreSQL's statement_timeout.
		return http.StatusServiceUnavailable, "timed out"
	}
	return http.StatusInternalServerError, "internal error"
}

// error writes err as application/problem+json. 5xx are logged here with their cause; the cause
// never reaches the client.
func (a *api) error(w http.ResponseWriter, r *http.Request, err error) {
	code, detail := status(r, err)
	if code >= 500 {
		a.log.ErrorContext(r.Context(), "request failed", "err", err, "trace_id", w.Header().Get("X-Trace-Id"))
	}
	if code == http.StatusUnauthorized {
		v := `Bearer realm="items"`
		if errors.Is(err, auth.ErrInvalid) {
			v += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", v)
	}
	if code == http.StatusServiceUnavailable {
		// Both 503s are an overload that passes: the held connections free up within the
		// request deadline.
		w.Header().Set("Retry-After", retryAfter)
	}
	title := http.StatusText(code)
	if code == StatusClientClosedRequest {
		title = "Client Closed Request"
	}
	body, _ := json.Marshal(problemBody{
		Type: "about:blank", Title: title, Status: code, Detail: detail,
		TraceID: w.Header().Get("X-Trace-Id"),
	})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

var _ slog.LogValuer = (*problem)(nil)

// LogValue keeps problems short in logs.
func (p *problem) LogValue() slog.Value { return slog.StringValue(p.detail) }
