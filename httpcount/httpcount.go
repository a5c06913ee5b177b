// Package httpcount counts a service's HTTP requests, accepted, in flight and cancelled (the
// client gave up before the handler returned), and serves the counts in the Prometheus text
// format on the service's own mux. It needs only the standard library, so any service can
// import it; `loadtest run` reads these names (docs/harness.md, "Your own service").
//
//	counts := httpcount.New()
//	mux.Handle("GET /metrics", counts.Handler())
//	srv := &http.Server{Handler: counts.Middleware(mux)}
package httpcount

import (
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
)

// The metric names Handler serves (the harness's defaults).
const (
	Accepted   = "http_server_requests_accepted_total"
	InFlight   = "http_server_requests_in_flight"
	Cancelled  = "http_server_requests_cancelled_total"
	Goroutines = "go_goroutines"
)

// Counter counts the requests its Middleware sees. The zero value is ready to use.
type Counter struct {
	accepted, inFlight, cancelled atomic.Int64
}

// New returns a Counter.
func New() *Counter { return &Counter{} }

// Counts are a Counter's figures at one moment.
type Counts struct {
	Accepted  int64 // requests whose handler started
	InFlight  int64 // of those, not yet returned
	Cancelled int64 // returned with their context cancelled: the client gave up first
}

// Snapshot returns the counts now.
func (c *Counter) Snapshot() Counts {
	return Counts{Accepted: c.accepted.Load(), InFlight: c.inFlight.Load(), Cancelled: c.cancelled.Load()}
}

// Middleware counts every request through next. A request counts as cancelled when its context
// was done by the time next returned: net/http cancels it when the client's connection goes
// away, and only after the handler returns otherwise (leave http.Server.BaseContext unset, or a
// shutdown signal counts as cancels too).
func (c *Counter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.accepted.Add(1)
		c.inFlight.Add(1)
		defer func() {
			c.inFlight.Add(-1)
			if r.Context().Err() != nil {
				c.cancelled.Add(1)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Handler serves the counts and the process's goroutine count in the Prometheus text format.
func (c *Counter) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := c.Snapshot()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprintf(w, "# HELP %s Requests whose handler started.\n# TYPE %s counter\n%s %d\n", Accepted, Accepted, Accepted, n.Accepted)
		fmt.Fprintf(w, "# HELP %s Requests being handled.\n# TYPE %s gauge\n%s %d\n", InFlight, InFlight, InFlight, n.InFlight)
		fmt.Fprintf(w, "# HELP %s Requests whose client gave up before the handler returned.\n# TYPE %s counter\n%s %d\n", Cancelled, Cancelled, Cancelled, n.Cancelled)
		fmt.Fprintf(w, "# HELP %s Number of goroutines that currently exist.\n# TYPE %s gauge\n%s %d\n", Goroutines, Goroutines, Goroutines, runtime.NumGoroutine())
	})
}
