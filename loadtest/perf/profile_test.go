package main

import (
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

func stack(fns ...string) *profile.Sample {
	s := &profile.Sample{}
	for _, fn := range fns {
		s.Location = append(s.Location, &profile.Location{Line: []profile.Line{{Function: &profile.Function{Name: fn}}}})
	}
	return s
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func TestOwner(t *testing.T) {
	tests := []struct {
		name    string
		s       *profile.Sample
		wantFn  string
		tracing bool
	}{
		{
			name:   "handler under otelhttp is the handler's",
			s:      stack("runtime.mallocgc", "encoding/json.Marshal", "github.com/x/httpapi.listItems", "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp.(*middleware).serveHTTP"),
			wantFn: "github.com/x/httpapi.listItems",
		},
		{
			name:    "allocation in the SDK is tracing",
			s:       stack("runtime.mallocgc", "go.opentelemetry.io/otel/sdk/trace.(*recordingSpan).SetAttributes", "github.com/x/httpapi.observe"),
			wantFn:  "go.opentelemetry.io/otel/sdk/trace.(*recordingSpan).SetAttributes",
			tracing: true,
		},
		{
			name:    "protobuf encoding for the exporter is tracing",
			s:       stack("google.golang.org/protobuf/internal/impl.(*MessageInfo).sizePointerSlow", "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp.(*client).UploadTraces"),
			wantFn:  "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp.(*client).UploadTraces",
			tracing: true,
		},
		{
			name:    "the exporter's HTTP client goroutines are tracing",
			s:       stack("internal/runtime/syscall/linux.Syscall6", "net.(*conn).Write", "net/http.(*persistConn).writeLoop"),
			wantFn:  "net/http.(*persistConn).writeLoop",
			tracing: true,
		},
		{
			name:   "otelpgx is tracing, pgx is not",
			s:      stack("github.com/jackc/pgx/v5/pgconn.(*PgConn).receiveMessage", "github.com/exaring/otelpgx.(*Tracer).TraceQueryStart"),
			wantFn: "github.com/jackc/pgx/v5/pgconn.(*PgConn).receiveMessage",
		},
		{
			name:    "the server's span middleware is tracing",
			s:       stack("runtime.mallocgc", "go.opentelemetry.io/otel/attribute.String", "github.com/benchharness/benchharness/server/internal/httpapi.requestAttributes"),
			wantFn:  "go.opentelemetry.io/otel/attribute.String",
			tracing: true,
		},
		{
			name:    "the middleware's own frame is tracing",
			s:       stack("runtime.mallocgc", "github.com/benchharness/benchharness/server/internal/httpapi.traceRequests.func1"),
			wantFn:  "github.com/benchharness/benchharness/server/internal/httpapi.traceRequests.func1",
			tracing: true,
		},
		{name: "GC alone is nobody's", s: stack("runtime.gcDrain", "runtime.gcBgMarkWorker")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn, tracing := owner(tt.s)
			if fn != tt.wantFn || tracing != tt.tracing {
				t.Errorf("owner = %q, %v; want %q, %v", fn, tracing, tt.wantFn, tt.tracing)
			}
		})
	}
}
