package sampler

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Where a goroutine count comes from (summary.Signals.Goroutines).
const (
	FromMetrics = "go_goroutines"
	FromPprof   = "pprof"
)

// The metric names the checks read, where a service has them: the Go collector's, the
// httpcount middleware's (and the items server's), pgxpool's collector.
const (
	MetricGoroutines = "go_goroutines"
	MetricInFlight   = "http_server_requests_in_flight"
	MetricCancelled  = "http_server_requests_cancelled_total"
	MetricAccepted   = "http_server_requests_accepted_total"
	MetricPool       = "pgxpool_acquired_conns"
	// The soak's: the live heap after GC (the items server's Go collector exports it), the
	// API's open connections, and the process collector's memory and descriptors.
	MetricHeapLive  = "go_gc_heap_live_bytes"
	MetricOpenConns = "http_server_open_connections"
	MetricRSS       = "process_resident_memory_bytes"
	MetricOpenFDs   = "process_open_fds"
)

// CompactPath is what a metrics URL ending in /metrics gets appended to name the server's
// compact page: only the series a sample reads (Series), cheap to serve many times a second. The
// items server has it on its admin listener; other services fall back to the full page.
const CompactPath = "/compact"

// Probe finds a server's signals: the first of metricsURLs that serves a Prometheus text
// exposition (its compact page first, see CompactPath; and which of the metric names above it
// has), and the first of pprofURLs (bases of /debug/pprof) whose goroutine profile gives a total. Goroutines come from go_goroutines
// when the metrics have it, else from pprof. Nothing found is not an error: the checks that
// need it say "not available".
func Probe(ctx context.Context, metricsURLs, pprofURLs []string) summary.Signals {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	var sig summary.Signals
	for _, u := range metricsCandidates(metricsURLs) {
		s := &Sampler{metricsURL: u, client: client}
		fams, err := s.scrape(ctx)
		if err != nil || len(fams) == 0 {
			continue
		}
		sig.MetricsURL = u
		_, goroutines := First(fams, goroutineNames())
		_, inFlight := First(fams, inFlightNames())
		sig.InFlight = inFlight != ""
		_, sig.Cancelled = fams[MetricCancelled]
		_, sig.Accepted = fams[MetricAccepted]
		sig.Pool = pool(fams) != nil
		if goroutines != "" {
			sig.Goroutines = FromMetrics
		}
		break
	}
	for _, u := range pprofURLs {
		if _, err := goroutineTotal(ctx, client, u); err == nil {
			sig.PprofURL = u
			break
		}
	}
	if sig.Goroutines == "" && sig.PprofURL != "" {
		sig.Goroutines = FromPprof
	}
	return sig
}

// metricsCandidates puts each URL's compact page (when it ends in /metrics) before it.
func metricsCandidates(urls []string) []string {
	var out []string
	for _, u := range urls {
		if strings.HasSuffix(u, "/metrics") {
			out = append(out, u+CompactPath)
		}
		out = append(out, u)
	}
	return out
}

// goroutineTotal reads the first line of base/goroutine?debug=1: "goroutine profile: total N".
func goroutineTotal(ctx context.Context, client *http.Client, base string) (float64, error) {
	u := base + "/goroutine?debug=1"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("goroutine profile %s: %w", u, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("goroutine profile %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("goroutine profile %s: status %d", u, resp.StatusCode)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil && line == "" {
		return 0, fmt.Errorf("goroutine profile %s: %w", u, err)
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(line), "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("goroutine profile %s: first line %q is not a goroutine profile's", u, line)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("goroutine profile %s: total %q: %w", u, v, err)
	}
	return float64(n), nil
}
