package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/jaeger"
	"github.com/benchharness/benchharness/loadtest/internal/redact"
	"github.com/benchharness/benchharness/loadtest/internal/scenario"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// traceKeeper returns the Keeper that makes Jaeger's tail sampling keep the traces of the
// requests the report lists, when the harness makes the server export (-otel-endpoint) to a
// Jaeger it links (-jaeger-url): the stack. Otherwise nil, which observes nothing.
func traceKeeper(set scenario.Settings, o runOptions) *jaeger.Keeper {
	if set.JaegerURL == "" || o.otel == "" {
		return nil
	}
	endpoint := o.otel
	if !strings.Contains(endpoint, "://") {
		endpoint = "http://" + endpoint
	}
	return jaeger.NewKeeper(endpoint, set.SlowestN)
}

// markTraces stops the keeper (its last markers sent), then checks that every trace link of
// the slowest and lost requests resolves in Jaeger, and marks each (summary.Request.TraceFound;
// a dead link is removed). Without a keeper (no stack) nothing says the traces should be there.
// An interrupted run is not kept waiting. It never fails the run: what it found is in the
// summary and one line on stderr.
func markTraces(ctx context.Context, keeper *jaeger.Keeper, jaegerURL string, scs []summary.Scenario, stderr io.Writer) {
	if keeper == nil {
		return
	}
	if err := keeper.Close(); err != nil {
		fmt.Fprintf(stderr, "trace links: keep markers not all sent: %s\n", redact.String(err.Error()))
	}
	if ctx.Err() != nil {
		return
	}
	c := &http.Client{Timeout: 5 * time.Second}
	checked, missing, err := jaeger.Mark(ctx, c, jaegerURL, scs, jaeger.DefaultWait)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "trace links: not checked: %s\n", redact.String(err.Error()))
	case len(missing) > 0:
		fmt.Fprintf(stderr, "trace links: %d of %d not in Jaeger (links removed): %s\n", len(missing), checked, strings.Join(missing, " "))
	case checked > 0:
		fmt.Fprintf(stderr, "trace links: all %d resolve in Jaeger\n", checked)
	}
}
