package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/benchharness/benchharness/loadtest/internal/atomicfile"
)

// tracingFrame reports whether a function belongs to the tracing stack: the OTel API and SDK,
// the exporters, otelpgx, and the server's own HTTP span middleware (httpapi.traceRequests and
// the request attributes it builds; its closure is traceRequests.func1).
func tracingFrame(fn string) bool {
	return strings.HasPrefix(fn, "go.opentelemetry.io/") || strings.HasPrefix(fn, "github.com/exaring/otelpgx") ||
		strings.Contains(fn, "/server/internal/httpapi.traceRequests") || strings.Contains(fn, "/server/internal/httpapi.requestAttributes")
}

// neutralPrefixes are helpers that work for whoever calls them (allocation, maps, locks,
// formatting, protobuf encoding): a sample in them belongs to the first caller outside them.
var neutralPrefixes = []string{
	"runtime.", "sync.", "sync/", "internal/", "reflect.", "strconv.", "strings.", "bytes.", "unicode",
	"math", "sort.", "slices.", "maps.", "time.", "context.", "encoding/", "compress/", "hash/",
	"fmt.", "errors.", "google.golang.org/protobuf/", "weak.", "unique.", "iter.",
}

func neutral(fn string) bool {
	for _, p := range neutralPrefixes {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// owner returns the function a sample is charged to: walking from the leaf toward the root,
// the first frame that is not a neutral helper. Wrappers (otelhttp's middleware is on every
// request's stack) are thus charged only for their own work, not for the handler they wrap.
// The exporter's HTTP client (net/http.(*persistConn) and (*Transport)) is the server's only
// outgoing HTTP, so its goroutines are charged to tracing as a whole.
func owner(s *profile.Sample) (fn string, tracing bool) {
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			if line.Function == nil {
				continue
			}
			name := line.Function.Name
			if strings.HasPrefix(name, "net/http.(*persistConn)") || strings.HasPrefix(name, "net/http.(*Transport)") {
				return name, true
			}
			if fn == "" && !neutral(name) {
				fn = name
			}
		}
	}
	return fn, tracingFrame(fn)
}

// profileTracing loads the untraced and the 100 %-traced server in turn with the P1/P2 load and
// takes a CPU profile and an allocation profile of each from its admin port, then writes what
// share of CPU and allocations the tracing stack takes, and its hottest functions, as findings.
func (r *runner) profileTracing(ctx context.Context, vs []*variant, wrk func(*variant, time.Duration) (float64, error)) {
	secs := max(1, int(r.cfg.round/time.Second)-2)
	type shares struct {
		cpu, allocs, allocsPerReq, bytesPerReq, tracingAllocsPerReq float64
		top                                                         []string
	}
	got := map[string]shares{}
	for _, v := range vs {
		if v.id == "default" {
			continue
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = wrk(v, time.Duration(secs+2)*time.Second)
		}()
		select {
		case <-time.After(time.Second): // let the load settle before sampling
		case <-ctx.Done():
		}
		cpuPath := filepath.Join(r.cfg.out, "p2."+v.id+".cpu.pprof")
		allocPath := filepath.Join(r.cfg.out, "p2."+v.id+".allocs.pprof")
		var cpuErr, allocErr error
		var reqs float64
		var inner sync.WaitGroup
		inner.Add(2)
		go func() {
			defer inner.Done()
			cpuErr = fetch(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", v.srv.Admin(), secs), cpuPath, time.Duration(secs)*time.Second)
		}()
		go func() {
			defer inner.Done()
			before, err := requestCount(ctx, v.srv.Admin())
			if err != nil {
				allocErr = err
				return
			}
			allocErr = fetch(ctx, fmt.Sprintf("%s/debug/pprof/allocs?seconds=%d", v.srv.Admin(), secs), allocPath, time.Duration(secs)*time.Second)
			after, err := requestCount(ctx, v.srv.Admin())
			if allocErr == nil && err != nil {
				allocErr = err
			}
			reqs = after - before
		}()
		inner.Wait()
		wg.Wait()
		var s shares
		if cpuErr == nil {
			var top []string
			s.cpu, top, cpuErr = tracingShare(cpuPath, 1, 6)
			s.top = top
		}
		if allocErr == nil {
			var total, tr float64
			total, tr, allocErr = allocTotals(allocPath)
			if reqs > 0 {
				s.allocsPerReq, s.tracingAllocsPerReq = total/reqs, tr/reqs
			}
			if total > 0 {
				s.allocs = tr / total
			}
			var bytes float64
			bytes, _, _ = sampleTotal(allocPath, "alloc_space")
			if reqs > 0 {
				s.bytesPerReq = bytes / reqs
			}
		}
		for _, err := range []error{cpuErr, allocErr} {
			if err != nil {
				r.res.Errors = append(r.res.Errors, fmt.Sprintf("P2 profile of the %s server: %v", v.id, err))
			}
		}
		got[v.id] = s
	}
	off, tr := got["off"], got["traced"]
	r.res.Findings = append(r.res.Findings,
		fmt.Sprintf("CPU charged to tracing (OTel SDK, otelhttp, otelpgx, exporter and its HTTP client; GC not included), same load: traced server %.1f %%, tracing-off server %.1f %% (p2.*.cpu.pprof).", 100*tr.cpu, 100*off.cpu),
		fmt.Sprintf("Allocations per request: tracing off %.0f objects / %.1f KB, traced %.0f objects / %.1f KB; tracing frames allocate %.0f objects per request when traced (%.0f %% of all), %.0f when off (p2.*.allocs.pprof, per served request counted from http_server_request_duration_seconds_count).",
			off.allocsPerReq, off.bytesPerReq/1024, tr.allocsPerReq, tr.bytesPerReq/1024, tr.tracingAllocsPerReq, 100*tr.allocs, off.tracingAllocsPerReq))
	if len(tr.top) > 0 {
		r.res.Findings = append(r.res.Findings, "Tracing functions charged the most CPU in the traced server (own work plus neutral helpers such as allocation and protobuf encoding, share of all CPU): "+strings.Join(tr.top, "; ")+".")
	}
}

// fetchTimeout bounds each of perf's own HTTP calls to a server, Jaeger or a pprof endpoint
// (beyond the time a profile is asked to span): a local answer that has not come by then never
// will, and perf says which call failed rather than hanging.
const fetchTimeout = 30 * time.Second

// fetch saves one pprof endpoint's answer to dst; the server takes span to make it.
func fetch(ctx context.Context, url, dst string, span time.Duration) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	resp, err := (&http.Client{Timeout: span + fetchTimeout}).Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: status %d", url, resp.StatusCode)
	}
	err = atomicfile.Write(dst, func(w io.Writer) error {
		_, err := io.Copy(w, resp.Body)
		return err
	})
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	return nil
}

// requestCount sums http_server_request_duration_seconds_count over every series of the
// server's /metrics: the API requests served so far.
func requestCount(ctx context.Context, admin string) (float64, error) {
	n, err := sumMetric(ctx, admin+"/metrics", "http_server_request_duration_seconds_count")
	if err == nil && n == 0 {
		err = fmt.Errorf("scrape %s: no http_server_request_duration_seconds_count", admin)
	}
	return n, err
}

// sumMetric sums every sample whose metric name starts with prefix in a Prometheus text page
// (0 when there is none).
func sumMetric(ctx context.Context, url, prefix string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", url, err)
	}
	resp, err := (&http.Client{Timeout: fetchTimeout}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	var n float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("scrape %s: parse %q: %w", url, line, err)
		}
		n += v
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("scrape %s: %w", url, err)
	}
	return n, nil
}

func loadProfile(path string) (*profile.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open profile: %w", err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("parse profile %s: %w", filepath.Base(path), err)
	}
	return p, nil
}

// tracingShare returns the share of sample value idx charged to tracing (see owner), and the n
// tracing functions charged the most, formatted.
func tracingShare(path string, idx, n int) (float64, []string, error) {
	p, err := loadProfile(path)
	if err != nil {
		return 0, nil, err
	}
	if idx >= len(p.SampleType) {
		return 0, nil, fmt.Errorf("profile %s has no sample type %d", filepath.Base(path), idx)
	}
	var total, traced int64
	cum := map[string]int64{}
	for _, s := range p.Sample {
		v := s.Value[idx]
		total += v
		if fn, ok := owner(s); ok {
			traced += v
			cum[fn] += v
		}
	}
	if total == 0 {
		return 0, nil, fmt.Errorf("profile %s is empty", filepath.Base(path))
	}
	names := make([]string, 0, len(cum))
	for fn := range cum {
		names = append(names, fn)
	}
	slices.SortFunc(names, func(a, b string) int { return int(cum[b] - cum[a]) })
	var top []string
	for _, fn := range names[:min(n, len(names))] {
		top = append(top, fmt.Sprintf("%s %.1f %%", shortName(fn), 100*float64(cum[fn])/float64(total)))
	}
	return float64(traced) / float64(total), top, nil
}

// allocTotals returns all allocated objects in an allocs profile and those allocated under a
// tracing frame.
func allocTotals(path string) (total, tracing float64, err error) {
	return sampleTotal(path, "alloc_objects")
}

// sampleTotal sums the named sample type over the profile, and over the samples charged to
// tracing (see owner).
func sampleTotal(path, typ string) (total, tracing float64, err error) {
	p, err := loadProfile(path)
	if err != nil {
		return 0, 0, err
	}
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == typ {
			idx = i
		}
	}
	if idx < 0 {
		return 0, 0, fmt.Errorf("profile %s has no %s", filepath.Base(path), typ)
	}
	for _, s := range p.Sample {
		v := float64(s.Value[idx])
		total += v
		if _, ok := owner(s); ok {
			tracing += v
		}
	}
	return total, tracing, nil
}

// shortName drops the module path of a function name: "go.opentelemetry.io/otel/sdk/trace.(*x).y"
// becomes "trace.(*x).y".
func shortName(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}
