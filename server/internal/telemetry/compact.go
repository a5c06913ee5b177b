package telemetry

import (
	"bytes"
	"os"
	"runtime/metrics"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewCompactRegistry returns the registry behind the admin listener's /metrics/compact: the few
// series a load-test sampler reads many times a second, not the whole of /metrics. The full Go
// and process collectors (a stop-the-world ReadMemStats, /proc/self/limits, stat, io, ...) and
// the request histograms made each full scrape cost the server far more than a sample needs
// (docs/perf.md, P5). cs are the server's cheap collectors to add (accepted, in-flight,
// cancelled, server_state, pool stats); the registry adds go_goroutines and the runtime/metrics
// a diagnosis reads, go_memstats_heap_alloc_bytes, go_gc_heap_live_bytes,
// process_resident_memory_bytes and process_open_fds, read cheaply.
func NewCompactRegistry(cs ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newRuntimeCollector(),
		// go_goroutines and the runtime/metrics a diagnosis reads, without ReadMemStats.
		collectors.NewGoCollector(collectors.WithGoCollectorMemStatsMetricsDisabled(),
			collectors.WithGoCollectorRuntimeMetrics(diagnosisMetrics)))
	reg.MustRegister(cs...)
	return reg
}

// runtimeCollector exports the Go and process series of /metrics that a sampler reads, under
// the same names and meanings, from runtime/metrics (no stop-the-world) and two /proc reads.
type runtimeCollector struct {
	heapAlloc, heapLive, rss, fds *prometheus.Desc
	pageSize                      float64
}

var _ prometheus.Collector = (*runtimeCollector)(nil)

// The runtime/metrics behind go_memstats_heap_alloc_bytes (MemStats.HeapAlloc: live and
// unswept heap objects) and go_gc_heap_live_bytes.
const (
	heapObjectsMetric = "/memory/classes/heap/objects:bytes"
	heapLiveMetric    = "/gc/heap/live:bytes"
)

func newRuntimeCollector() *runtimeCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &runtimeCollector{
		heapAlloc: d("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use."),
		heapLive:  d("go_gc_heap_live_bytes", "Heap memory occupied by live objects that were marked by the previous GC."),
		rss:       d("process_resident_memory_bytes", "Resident memory size in bytes."),
		fds:       d("process_open_fds", "Number of open file descriptors."),
		pageSize:  float64(os.Getpagesize()),
	}
}

// Describe implements prometheus.Collector.
func (c *runtimeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.heapAlloc, c.heapLive, c.rss, c.fds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A /proc figure that cannot be read (not Linux) is
// left out rather than exported as 0.
func (c *runtimeCollector) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	s := []metrics.Sample{{Name: heapObjectsMetric}, {Name: heapLiveMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		g(c.heapAlloc, float64(s[0].Value.Uint64()))
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		g(c.heapLive, float64(s[1].Value.Uint64()))
	}
	if pages, ok := residentPages(); ok {
		g(c.rss, pages*c.pageSize)
	}
	if n, ok := openFDs(); ok {
		g(c.fds, float64(n))
	}
}

// residentPages is the second field of /proc/self/statm.
func residentPages() (float64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(f[1]), 64)
	return v, err == nil
}

// openFDs counts the entries of /proc/self/fd (the directory's own descriptor included, as
// the process collector counts it).
func openFDs() (int, bool) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, false
	}
	return len(names), true
}
