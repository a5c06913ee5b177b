package telemetry_test

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/benchharness/benchharness/server/internal/telemetry"
)

// compactAdmin is an admin handler over registries like the server's: the full one with a
// request histogram, and a compact one holding server_state and an in-flight gauge set to 3.
func compactAdmin(tb testing.TB) (*telemetry.State, func(path, encoding string) *httptest.ResponseRecorder) {
	tb.Helper()
	reg := telemetry.NewRegistry("v-test")
	state := telemetry.NewState(reg)
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{Name: "http_server_requests_in_flight", Help: "h"})
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_server_request_duration_seconds", Help: "h"}, []string{"route"})
	reg.MustRegister(inFlight, hist)
	inFlight.Set(3)
	hist.WithLabelValues("/api/v1/items").Observe(0.01)
	compact := telemetry.NewCompactRegistry(state.Collector(), inFlight)
	h := telemetry.AdminHandler(reg, compact, state, nil)
	return state, func(path, encoding string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		if encoding != "" {
			req.Header.Set("Accept-Encoding", encoding)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
}

// value returns the value of the series line that starts with series (name and labels), or -1.
func value(body, series string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// TestCompactMetrics: /metrics/compact holds the sampler's series and the process figures a
// soak run reads, with the values /metrics gives, uncompressed even when gzip is accepted, and
// none of the expensive families.
func TestCompactMetrics(t *testing.T) {
	state, get := compactAdmin(t)
	state.Set(telemetry.StateDraining)
	rec := get("/metrics/compact", "gzip")
	if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "" {
		t.Fatalf("GET /metrics/compact: %d, Content-Encoding %q; want 200 uncompressed", rec.Code, rec.Header().Get("Content-Encoding"))
	}
	body := rec.Body.String()
	full := get("/metrics", "").Body.String()
	tests := []struct {
		series string
		want   float64 // -1: any positive value (the runtime's figures move between two reads)
	}{
		{`server_state{state="draining"}`, 1},
		{`server_state{state="ready"}`, 0},
		{"http_server_requests_in_flight", 3},
		{"go_goroutines", -1},
		{"go_memstats_heap_alloc_bytes", -1},
		{"process_resident_memory_bytes", -1},
		{"process_open_fds", -1},
	}
	for _, tt := range tests {
		got := value(body, tt.series)
		switch {
		case tt.want < 0 && got <= 0:
			t.Errorf("/metrics/compact: %s = %v, want a positive value", tt.series, got)
		case tt.want >= 0 && (got != tt.want || value(full, tt.series) != tt.want):
			t.Errorf("%s: compact %v, /metrics %v, want %v", tt.series, got, value(full, tt.series), tt.want)
		}
	}
	// Live heap is 0 until the first GC has marked it; present is what matters here.
	if value(body, "go_gc_heap_live_bytes") < 0 {
		t.Errorf("/metrics/compact lacks go_gc_heap_live_bytes")
	}
	// The Go collector's few base series (go_gc_duration_seconds, go_threads) come with the
	// runtime/metrics a diagnosis reads; ReadMemStats and /proc/self/stat stay out.
	for _, absent := range []string{"go_memstats_alloc_bytes_total", "process_cpu_seconds_total", "http_server_request_duration_seconds", "server_build_info"} {
		if strings.Contains(body, absent) {
			t.Errorf("/metrics/compact holds %s, which it should leave to /metrics", absent)
		}
	}
}

// BenchmarkAdminScrape is what one sampler reading costs the server's handler: the full page as
// the sampler used to read it (gzip accepted, as Go's client does) and the compact page.
func BenchmarkAdminScrape(b *testing.B) {
	_, get := compactAdmin(b)
	for name, path := range map[string]string{"full": "/metrics", "compact": "/metrics/compact"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if rec := get(path, "gzip"); rec.Code != 200 {
					b.Fatalf("GET %s: %d", path, rec.Code)
				}
			}
		})
	}
}
