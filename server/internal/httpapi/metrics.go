package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/benchharness/benchharness/httpcount"
)

// ExemplarTraceIDLabel names the exemplar label that holds a sampled request's trace id on
// http_server_request_duration_seconds; Grafana's Prometheus data source maps it to Jaeger
// (exemplarTraceIdDestinations in deploy/grafana/provisioning/datasources/datasources.yaml).
const ExemplarTraceIDLabel = "trace_id"

// Metrics are the API's request metrics (names and labels: docs/contracts.md).
// Accepted and in-flight requests are counted by httpcount, the middleware any service can
// import, so the harness reads the items server as it reads theirs; cancels keep a route label.
type Metrics struct {
	duration  *prometheus.HistogramVec
	counts    *httpcount.Counter
	accepted  prometheus.Collector
	inFlight  prometheus.Collector
	cancelled *prometheus.CounterVec
}

// NewMetrics registers the request metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_server_request_duration_seconds",
			Help: "API request duration by chi route pattern, method and status (499: the client went away).",
			// Sub-millisecond to 30 s: a page query takes ~1 ms, bench delays go up to 30 s.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method", "status"}),
		counts: httpcount.New(),
		cancelled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_server_requests_cancelled_total",
			Help: "API requests whose client went away before the response.",
		}, []string{"route"}),
	}
	m.accepted = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: httpcount.Accepted,
		Help: "API requests whose handler started.",
	}, func() float64 { return float64(m.counts.Snapshot().Accepted) })
	m.inFlight = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: httpcount.InFlight,
		Help: "API requests being served.",
	}, func() float64 { return float64(m.counts.Snapshot().InFlight) })
	reg.MustRegister(m.duration, m.accepted, m.inFlight, m.cancelled)
	return m
}

// count is httpcount's middleware: accepted and in flight.
func (m *Metrics) count(next http.Handler) http.Handler { return m.counts.Middleware(next) }

// Sampled are the collectors a load-test sampler reads (accepted, in-flight, cancelled), to register on
// the compact registry as well; the duration histogram stays on /metrics only.
func (m *Metrics) Sampled() []prometheus.Collector {
	return []prometheus.Collector{m.accepted, m.inFlight, m.cancelled}
}
