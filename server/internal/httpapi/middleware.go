package httpapi

import (
	"context"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// statusWriter remembers the status written. Unwrap lets http.ResponseController reach the
// connection underneath.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe sets the trace headers, then after the handler has run (when chi knows the route
// pattern) names the span, labels the metrics and logs the request. A request whose context
// ended (the client went away) is recorded as 499.
func (a *api) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		span := trace.SpanFromContext(r.Context())
		sc := span.SpanContext()
		if sc.IsValid() {
			// One string and one backing array for both headers: X-Trace-Id is the trace id
			// inside traceresponse.
			tr := traceresponse(sc)
			vs := [...]string{tr, tr[3:35]}
			h := w.Header()
			h["Traceresponse"] = vs[0:1:1]
			h["X-Trace-Id"] = vs[1:2:2]
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			// Deferred so that a panicking handler (re-panicked to net/http) is still counted.
			route := chi.RouteContext(r.Context()).RoutePattern()
			if route == "" {
				route = "unmatched" // never the raw URL: unbounded label values
			}
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			cancelled := r.Context().Err() != nil
			if cancelled {
				code = StatusClientClosedRequest
				a.metrics.cancelled.WithLabelValues(route).Inc()
			}
			method := methodLabel(r.Method)
			elapsed := time.Since(start)
			a.observeDuration(route, method, code, elapsed, sc)
			if span.IsRecording() {
				span.SetName(method + " " + route)
				span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", code))
				if a.benchDelay {
					// Tail sampling keeps every trace that asked for a bench delay (the cancel
					// and shutdown scenarios' held requests), whatever its outcome.
					if d := r.Header.Get("X-Bench-Delay"); d != "" {
						span.SetAttributes(attribute.String("bench.delay", clip(d)))
					}
				}
				switch {
				case cancelled:
					span.SetStatus(codes.Error, "client closed request")
				case code >= 500: // a server span's error is the server's: 4xx are the client's
					span.SetStatus(codes.Error, "")
				}
			}
			a.logRequest(r, route, method, code, elapsed, sc)
		}()
		next.ServeHTTP(sw, r)
	})
}

// observeDuration records the request in the duration histogram; a sampled request carries its
// trace id as the bucket's exemplar, so that a latency panel links to the trace. Unsampled ones
// do not: their trace is in no backend, and an exemplar would replace a useful one.
func (a *api) observeDuration(route, method string, code int, elapsed time.Duration, sc trace.SpanContext) {
	o := a.metrics.duration.WithLabelValues(route, method, strconv.Itoa(code))
	if sc.IsSampled() {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(elapsed.Seconds(), prometheus.Labels{ExemplarTraceIDLabel: sc.TraceID().String()})
			return
		}
	}
	o.Observe(elapsed.Seconds())
}

// logRequest: 5xx at error (the cause was logged where it happened), a client that went away
// at info (not an error of the server), everything else at debug so that the hot path does not
// pay for a log line unless LOG_LEVEL=debug.
func (a *api) logRequest(r *http.Request, route, method string, code int, elapsed time.Duration, sc trace.SpanContext) {
	level := slog.LevelDebug
	msg := "request"
	switch {
	case code >= 500:
		level = slog.LevelError
	case code == StatusClientClosedRequest:
		level, msg = slog.LevelInfo, "client went away"
	}
	if !a.log.Enabled(r.Context(), level) {
		return
	}
	ctx := context.WithoutCancel(r.Context()) // the line is written even when the client has gone
	a.log.LogAttrs(ctx, level, msg,
		slog.String("method", method),
		slog.String("route", route),
		slog.Int("status", code),
		slog.Duration("duration", elapsed),
		slog.String("trace_id", sc.TraceID().String()),
	)
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// traceresponse formats the W3C Trace Context Level 2 response header: 00-trace-span-flags.
func traceresponse(sc trace.SpanContext) string {
	var b [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags())})
	return string(b[:])
}

// authenticate rejects requests without a valid bearer token (401 + WWW-Authenticate).
func (a *api) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.verifier.VerifyHeader(r.Header.Get("Authorization")); err != nil {
			a.error(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// injectFaults applies leak-goroutine, BENCH_EXTRA_CPU and BENCH_EXTRA_LATENCY.
func (a *api) injectFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.faults.LeakGoroutine {
			// Deliberately never joined nor stopped: that is the fault.
			go func() { select {} }()
		}
		if a.burnIters > 0 && burnCPU(a.burnIters) == 0 {
			// Never true (xorshift never reaches 0); using the result keeps the loop from
			// being optimised away.
			w.Header().Set("X-Bench-Burn", "0")
		}
		if a.extraLatency > 0 {
			t := time.NewTimer(a.extraLatency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
			}
		}
		next.ServeHTTP(w, r)
	})
}
