package telemetry

import (
	"context"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves the admin listener: /metrics from gatherer (OpenMetrics, with exemplars,
// when asked for), /metrics/compact from compact (a sampler's few series, uncompressed; not
// served when nil; see NewCompactRegistry), /healthz (200 while the process runs), /readyz (200 only while state is
// ready and ping succeeds, 503 otherwise) and pprof on this mux, registered explicitly. (net/http/pprof's init also registers on
// http.DefaultServeMux; no listener of this server serves that mux.)
func AdminHandler(gatherer, compact prometheus.Gatherer, state *State, ping func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	// OpenMetrics when the scraper asks for it (Prometheus does): the text format has no
	// exemplars, so the request-duration histogram's trace ids would be lost on the way.
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	if compact != nil {
		// Uncompressed: gzip of a page this small costs more CPU than it saves on loopback.
		mux.Handle("GET /metrics/compact", promhttp.HandlerFor(compact, promhttp.HandlerOpts{DisableCompression: true}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		st := state.Get()
		if st != StateReady {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(st + "\n"))
			return
		}
		if ping != nil {
			// A short bound: a readiness probe must answer even when the database hangs.
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			if err := ping(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("database unavailable\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also serves heap, goroutine, block, mutex, allocs...
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
