package telemetry_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/benchharness/benchharness/server/internal/telemetry"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestNewTracingSettings(t *testing.T) {
	tests := []struct {
		env     map[string]string
		badName string // empty: valid
		sampled bool
	}{
		{map[string]string{}, "", true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none"}, "", true},
		{map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}, "", false},
		{map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, "", false},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}, "", false},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1"}, "", true},
		{map[string]string{"OTEL_TRACES_SAMPLER": "maybe"}, "OTEL_TRACES_SAMPLER", false},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, "OTEL_TRACES_SAMPLER_ARG", false},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "NaN"}, "OTEL_TRACES_SAMPLER_ARG", false},
		{map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"}, "OTEL_TRACES_SAMPLER_ARG", false},
	}
	for _, tt := range tests {
		tr, err := telemetry.NewTracing(context.Background(), env(tt.env), "test")
		if tt.badName != "" {
			var se *telemetry.SettingError
			if !errors.As(err, &se) || se.Name != tt.badName {
				t.Errorf("%v: err %v, want a SettingError naming %s", tt.env, err, tt.badName)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.env, err)
			continue
		}
		if tr.Exporter != "none" {
			t.Errorf("%v: exporter %q, want none by default", tt.env, tr.Exporter)
		}
		// Trace ids exist even when not sampled: traceresponse needs them.
		_, span := tr.Provider.Tracer("t").Start(context.Background(), "s")
		sc := span.SpanContext()
		span.End()
		if !sc.IsValid() || sc.IsSampled() != tt.sampled {
			t.Errorf("%v: span context valid=%v sampled=%v, want valid and sampled=%v", tt.env, sc.IsValid(), sc.IsSampled(), tt.sampled)
		}
		if err := tr.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
}

func TestAdminHandler(t *testing.T) {
	reg := telemetry.NewRegistry("v-test")
	state := telemetry.NewState(reg)
	var pingErr error
	h := telemetry.AdminHandler(reg, nil, state, func(context.Context) error { return pingErr })
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	steps := []struct {
		state   string
		ping    error
		readyz  int
		metrics []string
	}{
		{telemetry.StateStopped, nil, 503, []string{`server_state{state="stopped"} 1`, `server_state{state="ready"} 0`}},
		{telemetry.StateReady, nil, 200, []string{`server_state{state="ready"} 1`, `server_state{state="draining"} 0`, `server_state{state="stopped"} 0`}},
		{telemetry.StateReady, errors.New("db down"), 503, []string{`server_state{state="ready"} 1`}},
		{telemetry.StateDraining, nil, 503, []string{`server_state{state="draining"} 1`, `server_state{state="ready"} 0`}},
	}
	for _, s := range steps {
		state.Set(s.state)
		pingErr = s.ping
		if code, _ := get("/readyz"); code != s.readyz {
			t.Errorf("state %s ping %v: /readyz %d, want %d", s.state, s.ping, code, s.readyz)
		}
		_, body := get("/metrics")
		for _, m := range s.metrics {
			if !strings.Contains(body, m) {
				t.Errorf("state %s: /metrics lacks %q", s.state, m)
			}
		}
	}
	_, body := get("/metrics")
	for _, m := range []string{`server_build_info{goversion="go`, `version="v-test"} 1`, "go_goroutines ", "process_open_fds "} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
	for _, p := range []string{"/healthz", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1"} {
		if code, _ := get(p); code != 200 {
			t.Errorf("GET %s: %d, want 200", p, code)
		}
	}
	// net/http/pprof's init registers on http.DefaultServeMux whatever the import style; what
	// matters is that no listener serves the default mux: the API answers 404 there
	// (httpapi TestHostileInput), the admin listener serves this explicit mux.
}

// TestAdminMetricsExemplars checks that Prometheus, asking for OpenMetrics, gets the histogram's
// exemplars; the plain text format (a curl) has none, as the format cannot carry them.
func TestAdminMetricsExemplars(t *testing.T) {
	reg := telemetry.NewRegistry("v-test")
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "t_seconds", Help: "t", Buckets: []float64{1}})
	reg.MustRegister(h)
	h.(prometheus.ExemplarObserver).ObserveWithExemplar(0.5, prometheus.Labels{"trace_id": "0af7651916cd43dd8448eb211c80319c"})
	admin := telemetry.AdminHandler(reg, nil, telemetry.NewState(reg), nil)
	tests := []struct {
		accept string
		want   bool
	}{
		{"application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5", true},
		{"", false},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if tt.accept != "" {
			req.Header.Set("Accept", tt.accept)
		}
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, req)
		got := strings.Contains(rec.Body.String(), `t_seconds_bucket{le="1.0"} 1 # {trace_id="0af7651916cd43dd8448eb211c80319c"} 0.5`)
		if got != tt.want {
			t.Errorf("Accept %q: exemplar in /metrics = %v, want %v; Content-Type %s", tt.accept, got, tt.want, rec.Header().Get("Content-Type"))
		}
	}
}

// TestDiagnosisMetrics: the runtime/metrics the harness's diagnosis reads are exported with
// values, and the rest of runtime/metrics is not (each series costs every scrape).
func TestDiagnosisMetrics(t *testing.T) {
	reg := telemetry.NewRegistry("v-test")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 { // contend on a mutex so that its wait counter moves
		wg.Go(func() {
			for range 300 {
				mu.Lock()
				time.Sleep(time.Microsecond)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	runtime.GC() // the CPU classes are updated at GC
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	for _, name := range []string{"go_sync_mutex_wait_total_seconds_total", "go_cpu_classes_total_cpu_seconds_total",
		"go_cpu_classes_gc_total_cpu_seconds_total"} {
		f := byName[name]
		if f == nil || f.GetMetric()[0].GetCounter().GetValue() <= 0 {
			t.Errorf("%s: want a positive counter, got %v", name, f)
		}
	}
	for _, name := range []string{"go_cpu_classes_idle_cpu_seconds_total", "go_cpu_classes_gc_mark_assist_cpu_seconds_total", "go_cpu_classes_gc_mark_idle_cpu_seconds_total",
		"go_sched_goroutines_runnable_goroutines"} {
		if byName[name] == nil {
			t.Errorf("%s not exported", name)
		}
	}
	if h := byName["go_sched_latencies_seconds"]; h == nil || h.GetMetric()[0].GetHistogram().GetSampleCount() == 0 {
		t.Errorf("go_sched_latencies_seconds: want a histogram with counts, got %v", h)
	}
	for _, unwanted := range []string{"go_cpu_classes_scavenge_total_cpu_seconds_total", "go_sched_pauses_total_gc_seconds", "go_godebug_non_default_behavior_panicnil_events_total"} {
		if byName[unwanted] != nil {
			t.Errorf("%s exported: only the diagnosis's runtime metrics should be", unwanted)
		}
	}
}

// TestHeapLiveGauge: go_gc_heap_live_bytes is the heap the last GC marked live, so memory kept
// across a GC raises it by its size and dropping it lowers it again (the soak's memory signal).
func TestHeapLiveGauge(t *testing.T) {
	reg := telemetry.NewRegistry("v-test")
	live := func() float64 {
		t.Helper()
		runtime.GC()
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == "go_gc_heap_live_bytes" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no go_gc_heap_live_bytes")
		return 0
	}
	const size = 64 << 20
	before := live()
	kept := make([]byte, size)
	for i := range kept {
		kept[i] = 1
	}
	during := live()
	runtime.KeepAlive(kept)
	kept = nil
	after := live()
	if during-before < size*0.9 || during-after < size*0.9 || before <= 0 {
		t.Fatalf("live heap before %.0f, holding 64 MiB %.0f, after dropping it %.0f: want +64 MiB and back", before, during, after)
	}
}
