package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// routes is the whole API on one screen.
func (a *api) routes(tp trace.TracerProvider, prop propagation.TextMapPropagator) http.Handler {
	r := chi.NewRouter()
	r.Use(a.metrics.count) // accepted, in flight (httpcount)
	r.Use(a.observe)       // trace headers, span name + http.route, metrics, 499, request log
	if a.faults.LeakGoroutine || a.extraLatency > 0 || a.burnIters > 0 {
		r.Use(a.injectFaults) // only installed when asked: no cost on the normal path
	}
	if a.contend.on() {
		r.Use(a.contend.inject) // lock-contention, alloc-storm: also only when asked
	}
	if a.hoard != nil {
		r.Use(a.hoard.hoardMemory) // slow-leak, sawtooth: only when asked
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { a.error(w, r, errNotFound) })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) { a.error(w, r, errMethodNotAllowed) })

	// A Group's middleware runs after routing, so even a 401 is labelled with its route.
	r.Group(func(r chi.Router) {
		r.Use(a.authenticate)
		r.Get("/api/v1/items", a.listItems)  // ?page=P&per_page=N → 200 {"items":[...],"page":P,"per_page":N}
		r.Post("/api/v1/item", a.createItem) // {"name","description"} → 201 item
	})

	// Every route's cancelled series exists at 0 from the start, so a dashboard or a harness
	// reading the rise sees "no cancels" rather than "no data" until the first one.
	_ = chi.Walk(r, func(_, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		a.metrics.cancelled.WithLabelValues(route)
		return nil
	})

	// The server span wraps routing: it starts from any incoming traceparent before chi runs.
	return traceRequests(r, tp, prop)
}
