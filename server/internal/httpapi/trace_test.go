package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/benchharness/benchharness/server/internal/apitest"
)

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// TestSpans: the server span is named after the chi route pattern with http.route set, query
// spans are its children, and a client that went away gives a 499 error span.
func TestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	api := apitest.New(t, apitest.Options{TracerProvider: tp, BenchDelay: true})

	r := api.Do(t, api.Request(t, "GET", "/api/v1/items?page=2", ""))
	if r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	var server sdktrace.ReadOnlySpan
	apitest.Eventually(t, 5*time.Second, func() bool {
		for _, s := range rec.Ended() {
			if s.Name() == "GET /api/v1/items" {
				server = s
			}
		}
		return server != nil
	}, "no span named GET /api/v1/items among %d", len(rec.Ended()))
	for key, want := range map[string]string{
		"http.route": "/api/v1/items", "http.request.method": "GET", "url.path": "/api/v1/items",
		"url.scheme": "http", "http.response.status_code": "200", "client.address": "127.0.0.1",
		"network.protocol.version": "1.1",
	} {
		if got := attr(server, key); got != want {
			t.Errorf("server span %s = %q, want %q", key, got, want)
		}
	}
	if server.SpanKind() != trace.SpanKindServer || server.Status().Code == codes.Error {
		t.Errorf("server span kind %v status %v, want a server span without error", server.SpanKind(), server.Status())
	}
	if server.SpanContext().TraceID().String() != r.Header.Get("X-Trace-Id") {
		t.Fatalf("X-Trace-Id %s is not the server span's trace", r.Header.Get("X-Trace-Id"))
	}
	children := 0
	for _, s := range rec.Ended() {
		if s.Parent().SpanID() == server.SpanContext().SpanID() {
			children++
			if attr(s, "db.query.parameters.0") != "" || attr(s, "db.operation.parameter.0") != "" {
				t.Errorf("query span %q records parameters", s.Name())
			}
		}
	}
	if children == 0 {
		t.Fatalf("no database span under the server span")
	}

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	giveUp(t, api, client, "20s")
	apitest.Eventually(t, 5*time.Second, func() bool {
		for _, s := range rec.Ended() {
			if s.Name() == "GET /api/v1/items" && attr(s, "http.response.status_code") == "499" {
				return s.Status().Code == codes.Error
			}
		}
		return false
	}, "no 499 error span for the cancelled request")
}

// TestSpanAttributesBounded: a client's path, Host, User-Agent and X-Bench-Delay reach the
// server span cut to 256 bytes (on a UTF-8 boundary), not as the 5–10 KB each that was sent.
func TestSpanAttributesBounded(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	api := apitest.New(t, apitest.Options{TracerProvider: tp, BenchDelay: true})
	long := map[string]string{
		"url.path":            "/api/v1/items/x" + strings.Repeat("é", 3000), // byte 256 falls inside a rune
		"server.address":      strings.Repeat("h", 5000),
		"user_agent.original": strings.Repeat("u", 10_000),
		"bench.delay":         strings.Repeat("9", 10_000),
	}
	for _, path := range []string{long["url.path"], "/api/v1/items"} {
		req := api.Request(t, "GET", "", "")
		req.URL.Path = path
		req.Host = long["server.address"]
		req.Header.Set("User-Agent", long["user_agent.original"])
		req.Header.Set("X-Bench-Delay", long["bench.delay"])
		if r := api.Do(t, req); r.Status != 404 && r.Status != 400 {
			t.Fatalf("GET %.30s...: status %d, want 404 or 400", path, r.Status)
		}
	}
	var seen int
	apitest.Eventually(t, 5*time.Second, func() bool {
		seen = 0
		for _, s := range rec.Ended() {
			if s.SpanKind() == trace.SpanKindServer {
				seen++
			}
		}
		return seen == 2
	}, "want 2 server spans, have %d", seen)
	for _, s := range rec.Ended() {
		for _, kv := range s.Attributes() {
			v := kv.Value.Emit()
			if len(v) > 256 || !utf8.ValidString(v) {
				t.Errorf("span %q attribute %s is %d bytes (valid UTF-8: %v); want at most 256", s.Name(), kv.Key, len(v), utf8.ValidString(v))
			}
			if sent, ok := long[string(kv.Key)]; ok && !strings.HasPrefix(sent, v) {
				t.Errorf("span %q attribute %s = %.40q, want a prefix of what was sent", s.Name(), kv.Key, v)
			}
		}
	}
	if got := attr(rec.Ended()[0], "user_agent.original"); len(got) != 256 {
		t.Errorf("user_agent.original is %d bytes, want cut at 256", len(got))
	}
}
