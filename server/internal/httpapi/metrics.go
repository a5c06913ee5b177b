package httpapi

import "github.com/prometheus/client_golang/prometheus"

// ExemplarTraceIDLabel names the exemplar label that holds a sampled request's trace id on
// http_server_request_duration_seconds; Grafana's Prometheus data source maps it to Jaeger
// (exemplarTraceIdDestinations in deploy/grafana/provisioning/datasources/datasources.yaml).
const ExemplarTraceIDLabel = "trace_id"

// Metrics are the API's request metrics (names and labels: docs/contracts.md).
type Metrics struct {
	duration  *prometheus.HistogramVec
	inFlight  prometheus.Gauge
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
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_server_requests_in_flight",
			Help: "API requests being served.",
		}),
		cancelled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_server_requests_cancelled_total",
			Help: "API requests whose client went away before the response.",
		}, []string{"route"}),
	}
	reg.MustRegister(m.duration, m.inFlight, m.cancelled)
	return m
}

// Sampled are the collectors a load-test sampler reads (in-flight, cancelled), to register on
// the compact registry as well; the duration histogram stays on /metrics only.
func (m *Metrics) Sampled() []prometheus.Collector {
	return []prometheus.Collector{m.inFlight, m.cancelled}
}
