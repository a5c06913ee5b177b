package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/jaeger"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// markTraces checks, after the scenarios ran, that every trace link of the slowest and lost
// requests resolves in Jaeger, and marks each (summary.Request.TraceFound; a dead link is
// removed). Only when the harness made the server export (-otel-endpoint) to a Jaeger it links
// (-jaeger-url): otherwise nothing says the traces should be there. An interrupted run is not
// kept waiting. It never fails the run: what it found is in the summary and one line on stderr.
func markTraces(ctx context.Context, jaegerURL, otelEndpoint string, scs []summary.Scenario, stderr io.Writer) {
	if jaegerURL == "" || otelEndpoint == "" || ctx.Err() != nil {
		return
	}
	c := &http.Client{Timeout: 5 * time.Second}
	checked, missing, err := jaeger.Mark(ctx, c, jaegerURL, scs, jaeger.DefaultWait)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "trace links: not checked: %v\n", err)
	case len(missing) > 0:
		fmt.Fprintf(stderr, "trace links: %d of %d not in Jaeger (links removed): %s\n", len(missing), checked, strings.Join(missing, " "))
	case checked > 0:
		fmt.Fprintf(stderr, "trace links: all %d resolve in Jaeger\n", checked)
	}
}
