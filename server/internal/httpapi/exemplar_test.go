package httpapi_test

import (
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/benchharness/benchharness/server/internal/apitest"
	"github.com/benchharness/benchharness/server/internal/httpapi"
)

// exemplarTraceIDs returns the trace ids held as exemplars on the duration histogram's buckets
// for route and status.
func exemplarTraceIDs(t *testing.T, api *apitest.API, route, status string) []string {
	t.Helper()
	mfs, err := api.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, mf := range mfs {
		if mf.GetName() != "http_server_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["route"] != route || labels["status"] != status {
				continue
			}
			for _, b := range m.GetHistogram().GetBucket() {
				for _, lp := range b.GetExemplar().GetLabel() {
					if lp.GetName() == httpapi.ExemplarTraceIDLabel {
						ids = append(ids, lp.GetValue())
					}
				}
			}
		}
	}
	return ids
}

// TestExemplars: a sampled request leaves its trace id as an exemplar on the duration histogram;
// an unsampled one leaves none (its trace is in no backend).
func TestExemplars(t *testing.T) {
	tests := []struct {
		name    string
		sampler sdktrace.Sampler
		want    bool
	}{
		{"sampled", sdktrace.AlwaysSample(), true},
		{"not sampled", sdktrace.NeverSample(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := apitest.New(t, apitest.Options{Sampler: tt.sampler})
			r := api.Do(t, api.Request(t, "GET", "/api/v1/items", ""))
			if r.Status != 200 {
				t.Fatalf("status %d", r.Status)
			}
			ids := exemplarTraceIDs(t, api, "/api/v1/items", "200")
			id := r.Header.Get("X-Trace-Id")
			switch {
			case tt.want && (len(ids) != 1 || ids[0] != id):
				t.Fatalf("exemplar trace ids %v, want [%s] (the response's X-Trace-Id)", ids, id)
			case !tt.want && len(ids) != 0:
				t.Fatalf("exemplar trace ids %v on an unsampled request, want none", ids)
			}
		})
	}
}

// TestBenchDelayAttribute: with BENCH_DELAY=on, a request asking for X-Bench-Delay carries
// bench.delay on its server span (tail sampling keeps those traces); others do not.
func TestBenchDelayAttribute(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	api := apitest.New(t, apitest.Options{TracerProvider: tp, BenchDelay: true})
	delayed := api.Request(t, "GET", "/api/v1/items", "")
	delayed.Header.Set("X-Bench-Delay", "20ms")
	for _, req := range []struct {
		want string
		resp apitest.Response
	}{
		{"20ms", api.Do(t, delayed)},
		{"", api.Do(t, api.Request(t, "GET", "/api/v1/items", ""))},
	} {
		id := req.resp.Header.Get("X-Trace-Id")
		var server sdktrace.ReadOnlySpan
		apitest.Eventually(t, 5*time.Second, func() bool {
			for _, s := range rec.Ended() {
				if s.SpanContext().TraceID().String() == id && s.Name() == "GET /api/v1/items" {
					server = s
				}
			}
			return server != nil
		}, "no server span for trace %s", id)
		if got := attr(server, "bench.delay"); got != req.want {
			t.Errorf("trace %s: bench.delay = %q, want %q", id, got, req.want)
		}
	}
}
