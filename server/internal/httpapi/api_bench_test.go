package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/benchharness/benchharness/server/internal/apitest"
)

// The allocation benchmarks of the two API routes (issue #6): the real handler (auth, metrics,
// the server span, otelpgx) on a real PostgreSQL, called through ServeHTTP so that the figures are the
// server's allocations, not an HTTP client's. `make perf` saves their -benchmem output beside
// perf.json; compare two saved runs with benchstat. ns/op is not a figure here: the machine is
// shared, and speed is measured as ratios by make perf.

// discard is a ResponseWriter that keeps the status and drops the body, reused across
// iterations so that it adds no allocations of its own.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }
func (d *discard) reset() {
	clear(d.h)
	d.code = http.StatusOK
}

var benchSamplers = []struct {
	name    string
	sampler sdktrace.Sampler
}{
	{"tracing=off", sdktrace.NeverSample()},
	{"tracing=sampled", sdktrace.AlwaysSample()}, // recorded, not exported: the SDK's own cost
}

func BenchmarkListItems(b *testing.B) {
	for _, s := range benchSamplers {
		b.Run(s.name, func(b *testing.B) {
			api := apitest.New(b, apitest.Options{Sampler: s.sampler, Seed: 100})
			req := api.Request(b, http.MethodGet, "/api/v1/items?page=1&per_page=20", "")
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				api.Handler.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatalf("GET /api/v1/items: status %d", w.code)
				}
			}
		})
	}
}

func BenchmarkCreateItem(b *testing.B) {
	const body = `{"name":"bench item","description":"created by BenchmarkCreateItem"}`
	for _, s := range benchSamplers {
		b.Run(s.name, func(b *testing.B) {
			api := apitest.New(b, apitest.Options{Sampler: s.sampler})
			req := api.Request(b, http.MethodPost, "/api/v1/item", body)
			rd := strings.NewReader(body)
			rc := io.NopCloser(rd)
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				rd.Reset(body)
				req.Body = rc
				api.Handler.ServeHTTP(w, req)
				if w.code != http.StatusCreated {
					b.Fatalf("POST /api/v1/item: status %d", w.code)
				}
			}
		})
	}
}
