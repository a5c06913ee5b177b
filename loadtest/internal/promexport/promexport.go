// Package promexport serves the harness's own Prometheus metrics (docs/contracts.md, "Harness
// metrics"), so a dashboard can show what the load generator sent next to what the server saw.
//
// It owns a private registry (no global state): New builds one, Handler serves it, and the attack
// engine calls the update methods per result and per event. A nil *Metrics is valid and does
// nothing, so callers never need to check whether -metrics-addr was set.
package promexport

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Classes returns the error classes of loadtest_errors_total (docs/contracts.md), in contract
// order. The attack package's Class* constants are the same strings (its tests check).
func Classes() []string {
	return []string{"timeout", "refused", "reset", "eof", "cancelled", "http_4xx", "http_5xx", "other"}
}

// Events returns the events of loadtest_events_total.
func Events() []string {
	return []string{summary.EventStart, summary.EventEnd, summary.EventSigterm, summary.EventCancelWave}
}

// Metrics is the harness's registry and its collectors.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	target   *prometheus.GaugeVec
	running  *prometheus.GaugeVec
	events   *prometheus.CounterVec
}

// latencyBuckets span the loopback fast path (sub-millisecond) to the bench delays and client
// timeouts of the cancel and shutdown scenarios (seconds).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New returns a Metrics with every harness metric registered, plus the Go and process collectors
// of the harness process itself (its own CPU and heap tell whether the generator was the
// bottleneck).
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadtest_requests_total",
			Help: "Requests the harness completed, by scenario and status code (0 for transport errors).",
		}, []string{"scenario", "status"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadtest_errors_total",
			Help: "Failed requests by scenario and error class.",
		}, []string{"scenario", "class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "loadtest_request_duration_seconds",
			Help:    "Request latency seen by the harness, from the actual send time.",
			Buckets: latencyBuckets,
		}, []string{"scenario"}),
		target: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "loadtest_target_rate",
			Help: "Target request rate of the running scenario (requests/s).",
		}, []string{"scenario"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "loadtest_scenario_running",
			Help: "1 while the scenario runs.",
		}, []string{"scenario"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loadtest_events_total",
			Help: "Scenario events: start, end, sigterm, cancel_wave.",
		}, []string{"scenario", "event"}),
	}
	m.reg.MustRegister(m.requests, m.errors, m.duration, m.target, m.running, m.events,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the underlying registry (tests gather from it; callers may add collectors).
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Result records one completed request: its status code (0 for a transport error), its error
// class ("" when it succeeded) and its latency.
func (m *Metrics) Result(scenario string, code uint16, class string, latency time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(scenario, strconv.Itoa(int(code))).Inc()
	if class != "" {
		m.errors.WithLabelValues(scenario, class).Inc()
	}
	m.duration.WithLabelValues(scenario).Observe(latency.Seconds())
}

// SetTargetRate sets the scenario's target rate in requests/s.
func (m *Metrics) SetTargetRate(scenario string, rate float64) {
	if m == nil {
		return
	}
	m.target.WithLabelValues(scenario).Set(rate)
}

// Running marks the scenario as running (1) or not (0). Starting a scenario also creates its
// error-class and event series at 0 (docs/design/contracts.md: series exist before their first event),
// so a quiet run shows 0 rather than "No data" and a dashboard can tell a wrong name from
// nothing happening.
func (m *Metrics) Running(scenario string, running bool) {
	if m == nil {
		return
	}
	v := 0.0
	if running {
		v = 1
		for _, c := range Classes() {
			m.errors.WithLabelValues(scenario, c)
		}
		for _, e := range Events() {
			m.events.WithLabelValues(scenario, e)
		}
	}
	m.running.WithLabelValues(scenario).Set(v)
}

// Event counts one scenario event (one of Events).
func (m *Metrics) Event(scenario, event string) {
	if m == nil {
		return
	}
	m.events.WithLabelValues(scenario, event).Inc()
}

// Value returns the counter or gauge value of the series of name whose labels include every
// one given, and whether there is one: what a dashboard query would read, for tests and checks.
func (m *Metrics) Value(name string, labels map[string]string) (float64, bool) {
	mfs, err := m.reg.Gather()
	if err != nil {
		return 0, false
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			return s.GetCounter().GetValue() + s.GetGauge().GetValue(), true
		}
	}
	return 0, false
}
