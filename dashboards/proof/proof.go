// Package proof checks the dashboards and traces against a live stack: every dashboard query,
// with its variables substituted, must return data from Prometheus after a bench, and the
// slowest requests of the bench's summary.json must be complete traces in Jaeger (the HTTP
// server span with its route, a PostgreSQL span under it).
//
// scripts/proof.sh (make proof) brings the local stack up, runs a quick bench and then runs this
// package's TestProof with PROOF_STACK_ENV and PROOF_RUN_DIR set. The functions here are the
// checks themselves; their own tests feed them broken input to show each one failing.
package proof

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/errclass"
)

// ReadEnv parses a KEY=VALUE file as written by scripts/stack.sh (.stack/env); comments and
// blank lines are skipped.
func ReadEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read stack env: %w", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("read stack env %s: line %q is not KEY=VALUE", path, line)
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read stack env %s: %w", path, err)
	}
	return env, nil
}

// varRef matches Grafana variable references: $name, ${name} and ${name:format}.
var varRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|\$([A-Za-z0-9_]+)`)

// Substitute replaces Grafana variables in a PromQL expression the way Grafana would for the
// values given (for multi-value variables set to All, the variable's allValue, e.g. ".+").
// A variable without a value is an error: a query that still holds a $ is not PromQL.
func Substitute(expr string, values map[string]string) (string, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(expr, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for variable(s) %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// labelValues matches Grafana's Prometheus variable query label_values(SELECTOR, LABEL).
var labelValues = regexp.MustCompile(`^\s*label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// VariableQuery turns a variable's label_values(SELECTOR, LABEL) into the PromQL that has one
// series per value, count by (LABEL) (SELECTOR), so that a variable whose list would be empty
// in Grafana fails the proof like an empty panel does. Other expressions are returned as they are.
func VariableQuery(expr string) string {
	m := labelValues.FindStringSubmatch(expr)
	if m == nil {
		return expr
	}
	return fmt.Sprintf("count by (%s) (%s)", m[2], m[1])
}

// promResponse is the part of Prometheus's /api/v1/query_range answer the proof reads.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

// CountSeries returns how many series of a query_range answer have at least one finite value.
// A series of only NaN (histogram_quantile over no observations) draws nothing in Grafana, so
// it does not count. A Prometheus error (bad PromQL) is returned as an error.
func CountSeries(body []byte) (int, error) {
	var r promResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("decode Prometheus answer: %w", err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("prometheus: %s: %s", r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "matrix" {
		return 0, fmt.Errorf("prometheus: result type %q, want matrix", r.Data.ResultType)
	}
	n := 0
	for _, s := range r.Data.Result {
		for _, v := range s.Values {
			str, ok := v[1].(string)
			if !ok {
				continue
			}
			f, err := strconv.ParseFloat(str, 64)
			if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				n++
				break
			}
		}
	}
	return n, nil
}

// QueryRange runs a PromQL range query and returns the raw answer.
func QueryRange(ctx context.Context, c *http.Client, base, expr string, start, end time.Time, step time.Duration) ([]byte, error) {
	q := url.Values{}
	q.Set("query", expr)
	q.Set("start", strconv.FormatInt(start.Unix(), 10))
	q.Set("end", strconv.FormatInt(end.Unix(), 10))
	q.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	return get(ctx, c, strings.TrimRight(base, "/")+"/api/v1/query_range?"+q.Encode(), true)
}

// get fetches a URL; with any4xx, a 4xx answer's body is returned (Prometheus explains a bad
// query in a 400's JSON body).
func get(ctx context.Context, c *http.Client, u string, any4xx bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request %s: %w", u, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u, err)
	}
	if resp.StatusCode/100 == 2 || (any4xx && resp.StatusCode/100 == 4) {
		return body, nil
	}
	return body, fmt.Errorf("GET %s: %s", u, resp.Status)
}

// FetchTrace returns Jaeger's JSON for one trace (GET /api/traces/ID), or an error wrapping
// ErrTraceNotFound when Jaeger does not have it (yet).
func FetchTrace(ctx context.Context, c *http.Client, base, id string) ([]byte, error) {
	body, err := get(ctx, c, strings.TrimRight(base, "/")+"/api/traces/"+id, false)
	if err != nil {
		if strings.Contains(err.Error(), "404") {
			return nil, fmt.Errorf("trace %s: %w", id, ErrTraceNotFound)
		}
		return nil, err
	}
	return body, nil
}

// CheckLink fetches a report's trace link and checks that it answers 200 with a page: the link a
// reader clicks must open something, not only the API behind it.
func CheckLink(ctx context.Context, c *http.Client, link string) error {
	body, err := get(ctx, c, link, false)
	if err != nil {
		return fmt.Errorf("trace link: %w", err)
	}
	if !strings.Contains(strings.ToLower(string(body)), "<html") {
		return fmt.Errorf("trace link %s: the answer is not an HTML page", link)
	}
	return nil
}

// ErrTraceNotFound is returned by FetchTrace for a trace Jaeger does not hold.
var ErrTraceNotFound = errors.New("trace not found in Jaeger")

// jaegerTrace is the part of Jaeger's /api/traces answer the proof reads.
type jaegerTrace struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			TraceID       string `json:"traceID"`
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			References    []struct {
				RefType string `json:"refType"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
			Tags []struct {
				Key   string `json:"key"`
				Value any    `json:"value"`
			} `json:"tags"`
		} `json:"spans"`
	} `json:"data"`
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

// CheckTrace verifies one trace of Jaeger's /api/traces/ID answer: it is the trace asked for,
// it holds a server span with an http.route tag, and a PostgreSQL span (db.system or
// db.system.name = postgresql) that descends from that server span.
func CheckTrace(id string, body []byte) error { return checkTrace(id, body, true) }

// CheckServerSpan verifies that Jaeger's answer is the trace asked for with a server span that
// carries http.route: what a request the client gave up on before its query started has.
func CheckServerSpan(id string, body []byte) error { return checkTrace(id, body, false) }

func checkTrace(id string, body []byte, needDB bool) error {
	var t jaegerTrace
	if err := json.Unmarshal(body, &t); err != nil {
		return fmt.Errorf("trace %s: decode Jaeger answer: %w", id, err)
	}
	if len(t.Data) != 1 {
		return fmt.Errorf("trace %s: Jaeger returned %d traces, want 1", id, len(t.Data))
	}
	tr := t.Data[0]
	if !sameTraceID(tr.TraceID, id) {
		return fmt.Errorf("trace %s: Jaeger returned trace %s", id, tr.TraceID)
	}
	parent := map[string]string{}
	tags := make(map[string]map[string]string, len(tr.Spans))
	var servers []string
	for _, s := range tr.Spans {
		m := map[string]string{}
		for _, tag := range s.Tags {
			m[tag.Key] = fmt.Sprint(tag.Value)
		}
		tags[s.SpanID] = m
		for _, r := range s.References {
			if r.RefType == "" || r.RefType == "CHILD_OF" {
				parent[s.SpanID] = r.SpanID
			}
		}
		if m["span.kind"] == "server" && m["http.route"] != "" {
			servers = append(servers, s.SpanID)
		}
	}
	if len(servers) == 0 {
		return fmt.Errorf("trace %s: no server span with an http.route tag among %d spans", id, len(tr.Spans))
	}
	if !needDB {
		return nil
	}
	under := func(span, ancestor string) bool {
		for i := 0; i < len(tr.Spans); i++ { // bounded: a reference cycle must not hang the proof
			p, ok := parent[span]
			if !ok {
				return false
			}
			if p == ancestor {
				return true
			}
			span = p
		}
		return false
	}
	for spanID, m := range tags {
		if m["db.system"] != "postgresql" && m["db.system.name"] != "postgresql" {
			continue
		}
		for _, srv := range servers {
			if under(spanID, srv) {
				return nil
			}
		}
	}
	return fmt.Errorf("trace %s: no PostgreSQL span (db.system[.name]=postgresql) under the server span (route %s)", id, tags[servers[0]]["http.route"])
}

// SlowRequest is one of the slowest or lost requests listed in summary.json.
type SlowRequest struct {
	Scenario  string
	List      string // slowest or lost
	TraceID   string
	Code      int
	LatencyMs float64
	TraceURL  string // the report's link, when the harness had a Jaeger URL
	Sampled   bool
	// TraceFound is the harness's own check against Jaeger (nil: it did not check).
	TraceFound *bool
}

// ListedRequests reads summary.json and returns, per scenario, the slowest and the lost
// requests that carry a trace id and reached the server (a refused connection never did, so
// it has no trace to find). With tail sampling every one of them must be in Jaeger, sampled
// at the start or not.
func ListedRequests(summaryJSON []byte) ([]SlowRequest, error) {
	type request struct {
		Code       int     `json:"code"`
		LatencyMs  float64 `json:"latency_ms"`
		Error      string  `json:"error"`
		TraceID    string  `json:"trace_id"`
		TraceURL   string  `json:"trace_url"`
		Sampled    bool    `json:"sampled"`
		TraceFound *bool   `json:"trace_found"`
	}
	var s struct {
		SchemaVersion int `json:"schema_version"`
		Scenarios     []struct {
			Name    string    `json:"name"`
			Slowest []request `json:"slowest"`
			Lost    []request `json:"lost"`
		} `json:"scenarios"`
	}
	if err := json.Unmarshal(summaryJSON, &s); err != nil {
		return nil, fmt.Errorf("decode summary.json: %w", err)
	}
	// Version 3 added the like-for-like key; the requests read here are as in 1 and 2.
	if s.SchemaVersion < 1 || s.SchemaVersion > 3 {
		return nil, fmt.Errorf("summary.json schema_version %d, this proof reads 1 to 3", s.SchemaVersion)
	}
	var out []SlowRequest
	for _, sc := range s.Scenarios {
		for _, l := range []struct {
			name string
			reqs []request
		}{{"slowest", sc.Slowest}, {"lost", sc.Lost}} {
			for _, r := range l.reqs {
				if r.TraceID == "" || errclass.Of(r.Error) == errclass.Refused {
					continue
				}
				out = append(out, SlowRequest{Scenario: sc.Name, List: l.name, TraceID: r.TraceID, Code: r.Code,
					LatencyMs: r.LatencyMs, TraceURL: r.TraceURL, Sampled: r.Sampled, TraceFound: r.TraceFound})
			}
		}
	}
	return out, nil
}
