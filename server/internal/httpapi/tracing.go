package httpapi

import (
	"net/http"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// traceRequests starts the server span of every request (the child of an incoming W3C
// traceparent, honoured by the propagator) and ends it when the handler returns; observe names it
// after the route and sets the response's status on it. It stands where otelhttp stood: otelhttp
// computed its attributes, wrapped the body and the writer and built its metric attribute sets
// on every request, recorded or not (20 of the list route's allocations, ~6 % of the untraced
// server's CPU: docs/perf.md); here a span that records nothing costs its start and end, and
// a recorded one gets the HTTP semantic-convention attributes of the request.
func traceRequests(next http.Handler, tp trace.TracerProvider, prop propagation.TextMapPropagator) http.Handler {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	if prop == nil {
		prop = propagation.NewCompositeTextMapPropagator() // no-op: no trace ids in responses
	}
	tracer := tp.Tracer("github.com/benchharness/benchharness/server/internal/httpapi")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		// The placeholder name is replaced by observe with "METHOD /route/pattern" once chi has
		// matched the route.
		ctx, span := tracer.Start(ctx, "http.request", trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		if span.IsRecording() {
			span.SetAttributes(requestAttributes(r)...)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// requestAttributes are the HTTP server span attributes of the OpenTelemetry semantic
// conventions that describe the request (http.route and http.response.status_code are set by
// observe). Query strings are left out: they are not needed to find a request, and may carry
// what a trace should not.
func requestAttributes(r *http.Request) []attribute.KeyValue {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", methodLabel(r.Method)),
		attribute.String("url.scheme", scheme),
		attribute.String("url.path", clip(r.URL.Path)),
		attribute.String("server.address", clip(r.Host)),
		attribute.String("network.protocol.version", protocolVersion(r)),
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, attribute.String("user_agent.original", clip(ua)))
	}
	if r.RemoteAddr != "" {
		attrs = append(attrs, attribute.String("client.address", hostOnly(r.RemoteAddr)))
	}
	return attrs
}

// maxAttrLen bounds, in bytes, a span attribute taken from the request: a client may send up to
// MaxHeaderBytes (64 KiB) of path, Host or User-Agent, and each span would carry it to the
// exporter's queue and the trace backend.
const maxAttrLen = 256

// clip cuts s to at most maxAttrLen bytes, on a UTF-8 boundary.
func clip(s string) string {
	if len(s) <= maxAttrLen {
		return s
	}
	i := maxAttrLen
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

func protocolVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 1:
		return "1.1"
	case r.ProtoMajor == 2:
		return "2"
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return "1.0"
	}
	return r.Proto
}

// hostOnly strips the port from a host:port (IPv6 brackets included).
func hostOnly(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			addr = addr[:i]
			break
		}
		if addr[i] < '0' || addr[i] > '9' {
			break
		}
	}
	if len(addr) > 1 && addr[0] == '[' && addr[len(addr)-1] == ']' {
		addr = addr[1 : len(addr)-1]
	}
	return addr
}
