// Package jaeger asks a Jaeger query service which traces it holds, so that the report's trace
// links are checked rather than promised: with tail sampling, Jaeger keeps a trace only after
// its decision wait, and only when a policy matched (slow, failed, bench-delayed, or the
// probabilistic share).
package jaeger

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// DefaultWait is how long Resolve keeps asking for a trace Jaeger does not hold yet: the
// server's span batches leave every 5 s and the stack's tail sampling decides 10 s after a
// trace's first span (deploy/jaeger/config.yaml), so a trace of the run's last second can take
// about 15 s to appear.
const DefaultWait = 18 * time.Second

// poll is the pause between two rounds over the traces still missing.
const poll = 500 * time.Millisecond

// Resolve reports, for each trace id, whether Jaeger at base (the UI/API base URL) holds that
// trace with a span of the server (not only the Keeper's marker). Ids it does not hold are asked again every half second until wait has passed since
// the call; ids it holds are not asked again. An error means Jaeger could not be asked (not
// reachable, an answer that is neither the trace nor "not found"): then the map is nil.
func Resolve(ctx context.Context, c *http.Client, base string, ids []string, wait time.Duration) (map[string]bool, error) {
	found := make(map[string]bool, len(ids))
	for _, id := range ids {
		found[id] = false
	}
	deadline := time.Now().Add(wait)
	for {
		missing := 0
		for id, ok := range found {
			if ok {
				continue
			}
			has, err := holds(ctx, c, base, id)
			if err != nil {
				return nil, err
			}
			found[id] = has
			if !has {
				missing++
			}
		}
		if missing == 0 || !time.Now().Add(poll).Before(deadline) {
			return found, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("resolve traces in Jaeger: %w", ctx.Err())
		case <-time.After(poll):
		}
	}
}

// holds asks Jaeger's GET /api/traces/{id}: 200 with the trace in its data is true, 404 false.
func holds(ctx context.Context, c *http.Client, base, id string) (bool, error) {
	u := strings.TrimRight(base, "/") + "/api/traces/" + id
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, fmt.Errorf("ask Jaeger for trace %s: %w", id, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, fmt.Errorf("ask Jaeger for trace %s: %w", id, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return false, fmt.Errorf("ask Jaeger for trace %s: read answer: %w", id, err)
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return false, nil
	case http.StatusOK:
	default:
		return false, fmt.Errorf("ask Jaeger for trace %s: %s", id, resp.Status)
	}
	var t struct {
		Data []struct {
			TraceID string `json:"traceID"`
			Spans   []struct {
				ProcessID string `json:"processID"`
			} `json:"spans"`
			Processes map[string]struct {
				ServiceName string `json:"serviceName"`
			} `json:"processes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return false, fmt.Errorf("ask Jaeger for trace %s: not Jaeger's answer: %w", id, err)
	}
	for _, d := range t.Data {
		if !sameTraceID(d.TraceID, id) {
			continue
		}
		// The harness's own keep marker alone is no trace to look at: the server never
		// traced that request (it gave up before the handler ran).
		for _, s := range d.Spans {
			if d.Processes[s.ProcessID].ServiceName != markerService {
				return true, nil
			}
		}
	}
	return false, nil
}

// sameTraceID compares trace ids as Jaeger prints them: lower case, leading zeros dropped.
func sameTraceID(a, b string) bool {
	norm := func(s string) string {
		s = strings.TrimLeft(strings.ToLower(s), "0")
		if s == "" {
			return "0"
		}
		return s
	}
	return norm(a) == norm(b)
}

// Mark checks every trace link of the scenarios' slowest and lost requests against Jaeger and
// records the answer in each request's TraceFound. A link Jaeger cannot resolve is removed
// (TraceURL emptied, TraceFound false): the report then shows the trace id without a dead
// link. Requests without a link are left alone. It returns how many links it checked and the
// ids that did not resolve; when Jaeger cannot be asked, nothing is marked and the error says why.
func Mark(ctx context.Context, c *http.Client, base string, scs []summary.Scenario, wait time.Duration) (checked int, missing []string, err error) {
	var linked []*summary.Request
	for i := range scs {
		for _, list := range [][]summary.Request{scs[i].Slowest, scs[i].Lost} {
			for j := range list {
				if list[j].TraceURL != "" && list[j].TraceID != "" {
					linked = append(linked, &list[j])
				}
			}
		}
	}
	if len(linked) == 0 {
		return 0, nil, nil
	}
	ids := make([]string, 0, len(linked))
	for _, r := range linked {
		ids = append(ids, r.TraceID)
	}
	found, err := Resolve(ctx, c, base, ids, wait)
	if err != nil {
		return 0, nil, err
	}
	for _, r := range linked {
		ok := found[r.TraceID]
		r.TraceFound = &ok
		if !ok {
			missing = append(missing, r.TraceID)
			r.TraceURL = ""
		}
	}
	return len(linked), missing, nil
}
