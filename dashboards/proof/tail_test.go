package proof_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/dashboards"
	"github.com/benchharness/benchharness/dashboards/proof"
)

// checkTailSampling is TestProof's part for issue 12: with every request sent sampled and
// Jaeger's tail sampling deciding, the slowest and lost requests, the held and cancelled ones
// and the slow exemplars are all in Jaeger, and the fast requests mostly are not.
func checkTailSampling(ctx context.Context, t *testing.T, c *http.Client, env map[string]string, runDir string) {
	slowMs, err := strconv.ParseFloat(env["TAIL_SLOW_MS"], 64)
	if err != nil {
		t.Fatalf("TAIL_SLOW_MS %q in the stack env: %v", env["TAIL_SLOW_MS"], err)
	}
	keepPct, err := strconv.ParseFloat(env["TAIL_KEEP_PERCENT"], 64)
	if err != nil {
		t.Fatalf("TAIL_KEEP_PERCENT %q in the stack env: %v", env["TAIL_KEEP_PERCENT"], err)
	}
	jaegerURL := env["JAEGER_URL"]
	settle(t, filepath.Join(runDir, "summary.json"))
	t.Run("slowest and lost requests are complete traces in Jaeger", func(t *testing.T) {
		checkListed(ctx, t, c, jaegerURL, filepath.Join(runDir, "summary.json"))
	})
	t.Run("held and cancelled requests are complete traces in Jaeger", func(t *testing.T) {
		checkDelayed(ctx, t, c, jaegerURL, runDir)
	})
	t.Run("fast requests are dropped but for the probabilistic share", func(t *testing.T) {
		checkFastDropped(ctx, t, c, jaegerURL, runDir, time.Duration(slowMs*float64(time.Millisecond)), keepPct)
	})
	t.Run("exemplars of slow requests resolve in Jaeger", func(t *testing.T) {
		checkExemplars(ctx, t, c, env, slowMs/1000)
	})
}

// settle waits until Jaeger has decided on every trace of the bench: the last server's spans
// leave within its 5 s export interval, and tail sampling decides 10 s after a trace's first
// span. After that a trace Jaeger does not hold was dropped, not late.
func settle(t *testing.T, summaryPath string) {
	b, err := os.ReadFile(summaryPath)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		FinishedAt time.Time `json:"finished_at"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.FinishedAt.IsZero() {
		t.Fatalf("%s: no finished_at (err %v)", summaryPath, err)
	}
	if wait := time.Until(s.FinishedAt.Add(23 * time.Second)); wait > 0 {
		t.Logf("waiting %s for Jaeger's last sampling decisions", wait.Round(time.Second))
		time.Sleep(wait)
	}
}

func checkListed(ctx context.Context, t *testing.T, c *http.Client, jaegerURL, summaryPath string) {
	b, err := os.ReadFile(summaryPath)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := proof.ListedRequests(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) == 0 {
		t.Fatalf("%s lists no slowest or lost request that reached the server: nothing to look up in Jaeger", summaryPath)
	}
	unhandled := 0
	for _, r := range listed {
		what := r.Scenario + " " + r.List + ", " + strconv.FormatFloat(r.LatencyMs, 'f', 1, 64) + " ms, status " + strconv.Itoa(r.Code)
		body, err := proof.FetchTrace(ctx, c, jaegerURL, r.TraceID)
		switch {
		case err == nil && r.Code > 0:
			// Answered: the server traced it all, its query included.
			err = proof.CheckTrace(r.TraceID, body)
		case err == nil:
			// The client gave up: the server span must be there, the query may not have started.
			err = proof.CheckServerSpan(r.TraceID, body)
		}
		if err != nil && r.Code == 0 && r.TraceFound != nil && !*r.TraceFound && r.TraceURL == "" {
			// No response, and no server span: the client gave up before the server's handler
			// ran (an overloaded machine). The harness said so and removed the link.
			unhandled++
			t.Logf("%s: never reached the server's handler; the harness marked it trace_found=false (%v)", what, err)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		switch {
		case r.TraceFound == nil || !*r.TraceFound:
			t.Errorf("%s: trace %s is in Jaeger but summary.json's trace_found is %v: the harness's own check disagrees", what, r.TraceID, r.TraceFound)
		case r.TraceURL == "":
			t.Errorf("%s: trace %s has no trace_url in summary.json although the bench had -jaeger-url", what, r.TraceID)
		default:
			if err := proof.CheckLink(ctx, c, r.TraceURL); err != nil {
				t.Errorf("%s: %v", what, err)
			}
		}
	}
	t.Logf("%d slowest/lost requests: %d complete traces in Jaeger, marked found by the harness, links open; %d never reached the handler", len(listed), len(listed)-unhandled, unhandled)
}

// checkDelayed checks that every held request (shutdown: answered after its 1 s pg_sleep) is a
// complete trace; every cancelled one (cancel: the client gave up at 100 ms) has its server span,
// and at least one has the query span it was cancelled in. A cancelled request with no server
// span at all never reached the server's handler (on an overloaded machine the client can give up
// first): counted and shown, as the harness does for its listed requests.
func checkDelayed(ctx context.Context, t *testing.T, c *http.Client, jaegerURL, runDir string) {
	n, cancelledWithQuery, unhandled := 0, 0, 0
	for _, name := range []string{"cancel", "shutdown"} {
		sent, err := proof.ReadResults(filepath.Join(runDir, name+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sent {
			if !s.Delayed || !s.ReachedServer() {
				continue
			}
			n++
			body, err := proof.FetchTrace(ctx, c, jaegerURL, s.TraceID)
			switch {
			case err == nil && s.Code > 0:
				err = proof.CheckTrace(s.TraceID, body)
			case err == nil:
				if err = proof.CheckServerSpan(s.TraceID, body); err == nil && proof.CheckTrace(s.TraceID, body) == nil {
					cancelledWithQuery++
				}
			}
			if err != nil && s.Code == 0 && (errors.Is(err, proof.ErrTraceNotFound) || strings.Contains(err.Error(), "no server span")) {
				unhandled++
				t.Logf("%s: cancelled request (%s) never reached the server's handler: %v", name, s.Latency, err)
				continue
			}
			if err != nil {
				t.Errorf("%s: delayed request (status %d, %s, %q): %v", name, s.Code, s.Latency, s.Error, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no held or cancelled request in cancel.bin and shutdown.bin: nothing to look up")
	}
	if cancelledWithQuery == 0 {
		t.Error("no cancelled request's trace has its PostgreSQL span: cancelled queries are not traced")
	}
	t.Logf("%d held/cancelled requests: %d never reached the handler, the others each a trace in Jaeger with its server span; the held ones and %d cancelled ones with their PostgreSQL span",
		n, unhandled, cancelledWithQuery)
}

// checkFastDropped checks that, of steady's fast requests (not among the slowest the report
// lists, which are kept on purpose), Jaeger kept fewer than the probabilistic share + 5 points.
func checkFastDropped(ctx context.Context, t *testing.T, c *http.Client, jaegerURL, runDir string, slow time.Duration, keepPct float64) {
	sent, err := proof.ReadResults(filepath.Join(runDir, "steady.bin"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(runDir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	listed, err := proof.ListedRequests(b)
	if err != nil {
		t.Fatal(err)
	}
	reported := map[string]bool{}
	for _, r := range listed {
		reported[r.TraceID] = true
	}
	kept, total, slowOnServer := 0, 0, 0
	for _, s := range sent {
		if s.Delayed || s.Code < 200 || s.Code >= 400 || s.Latency >= slow || reported[s.TraceID] {
			continue
		}
		body, err := proof.FetchTrace(ctx, c, jaegerURL, s.TraceID)
		switch {
		case errors.Is(err, proof.ErrTraceNotFound):
			total++
			continue
		case err != nil:
			t.Fatal(err)
		}
		// Fast for the client, yet the trace can be slow: on a loaded machine the server's
		// span may end well after the response went out (the deferred metrics and log line
		// waiting for a core). The latency policy rightly kept it; it is not a fast trace.
		d, err := proof.TraceDuration(body)
		if err != nil {
			t.Fatalf("trace %s: %v", s.TraceID, err)
		}
		if d >= slow {
			slowOnServer++
			continue
		}
		total++
		kept++
	}
	if err := proof.CheckKeptShare(kept, total, keepPct); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d fast requests (< %s for the client and in Jaeger) kept by Jaeger (probabilistic share %.0f %%); %d more fast for the client were slow traces, kept by the latency rule",
		kept, total, slow, keepPct, slowOnServer)
}

func checkExemplars(ctx context.Context, t *testing.T, c *http.Client, env map[string]string, slowSeconds float64) {
	w := windowOf(t, env)
	body, err := proof.QueryExemplars(ctx, c, env["PROMETHEUS_URL"], `http_server_request_duration_seconds_bucket{job="`+dashboards.ServerJob+`"}`, w.start, w.end)
	if err != nil {
		t.Fatal(err)
	}
	exs, err := proof.ParseExemplars(body, dashboards.ExemplarTraceIDLabel)
	if err != nil {
		t.Fatal(err)
	}
	slow, fastFound := 0, 0
	for _, e := range exs {
		_, err := proof.FetchTrace(ctx, c, env["JAEGER_URL"], e.TraceID)
		if err != nil && !errors.Is(err, proof.ErrTraceNotFound) {
			t.Fatal(err)
		}
		if e.Value < slowSeconds {
			// A fast request's trace is kept only by the probabilistic share: its exemplar may
			// point at nothing. Counted, not required.
			if err == nil {
				fastFound++
			}
			continue
		}
		slow++
		if err != nil {
			t.Errorf("exemplar %s (%.3f s, %v): %v", e.TraceID, e.Value, e.Series, err)
		}
	}
	if slow == 0 {
		t.Fatalf("Prometheus holds %d exemplars, none of a request at or above %.3f s (the held requests take 1 s)", len(exs), slowSeconds)
	}
	t.Logf("%d exemplars: %d of slow requests, each resolving in Jaeger; %d of %d fast ones resolve", len(exs), slow, fastFound, len(exs)-slow)
}

func TestReadResults(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	enc := vegeta.NewEncoder(f)
	for _, r := range []vegeta.Result{
		{Code: 200, Latency: time.Millisecond, URL: "http://h/api/v1/items?page=1#tp=0af7651916cd43dd8448eb211c80319c-01"},
		{Code: 0, Latency: time.Second, URL: "http://h/api/v1/items#tp=1af7651916cd43dd8448eb211c80319c-01&bench-delay", Error: "EOF"},
		{Code: 0, URL: "http://h/api/v1/item#tp=2af7651916cd43dd8448eb211c80319c-00", Error: "dial tcp 127.0.0.1:1: connect: connection refused"},
	} {
		if err := enc.Encode(&r); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	got, err := proof.ReadResults(p)
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, s := range got {
		desc = append(desc, s.TraceID[:4]+" "+strconv.FormatBool(s.Delayed)+" "+strconv.FormatBool(s.ReachedServer()))
	}
	if want := "0af7 false true,1af7 true true,2af7 false false"; strings.Join(desc, ",") != want {
		t.Fatalf("ReadResults = %v, want %s", desc, want)
	}
	if err := os.WriteFile(p, []byte("not gob"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := proof.ReadResults(p); err == nil {
		t.Fatal("ReadResults accepted a file that is not vegeta's gob")
	}
}

func TestCheckKeptShare(t *testing.T) {
	tests := []struct {
		kept, total int
		pct         float64
		ok          bool
	}{
		{15, 300, 5, true},  // 5 %: the share itself
		{29, 300, 5, true},  // 9.7 %
		{30, 300, 5, false}, // 10 %: not fewer than share + 5
		{300, 300, 5, false},
		{0, 0, 5, false}, // nothing looked up proves nothing
	}
	for _, tt := range tests {
		if err := proof.CheckKeptShare(tt.kept, tt.total, tt.pct); (err == nil) != tt.ok {
			t.Errorf("CheckKeptShare(%d, %d, %g) = %v, want ok=%v", tt.kept, tt.total, tt.pct, err, tt.ok)
		}
	}
}

func TestParseExemplars(t *testing.T) {
	good := `{"status":"success","data":[{"seriesLabels":{"le":"1"},"exemplars":[{"labels":{"trace_id":"aa"},"value":"0.5","timestamp":1}]},
		{"seriesLabels":{"le":"0.01"},"exemplars":[{"labels":{"trace_id":"bb"},"value":"0.002","timestamp":2}]}]}`
	exs, err := proof.ParseExemplars([]byte(good), "trace_id")
	if err != nil || len(exs) != 2 || exs[0].TraceID != "aa" || exs[0].Value != 0.5 {
		t.Fatalf("ParseExemplars = %+v, %v", exs, err)
	}
	for name, body := range map[string]string{
		"other label": `{"status":"success","data":[{"seriesLabels":{},"exemplars":[{"labels":{"traceID":"aa"},"value":"1"}]}]}`,
		"error":       `{"status":"error","errorType":"bad_data","error":"parse error"}`,
		"not json":    `<html>`,
	} {
		if _, err := proof.ParseExemplars([]byte(body), "trace_id"); err == nil {
			t.Errorf("%s: ParseExemplars accepted %s", name, body)
		}
	}
}

func TestCheckServerSpan(t *testing.T) {
	const id = "0af7651916cd43dd8448eb211c80319c"
	if err := proof.CheckServerSpan(id, []byte(jaegerJSON(id, "/api/v1/items"))); err != nil {
		t.Errorf("server span without a query: %v, want nil", err)
	}
	markerOnly := `{"data":[{"traceID":"` + id + `","spans":[{"spanID":"m1","operationName":"bench keep (slowest)","references":[],"tags":[{"key":"bench.keep","value":"slowest"}]}]}]}`
	for name, body := range map[string]string{"no route": jaegerJSON(id, ""), "marker only": markerOnly, "another trace": jaegerJSON("1111", "/x")} {
		if err := proof.CheckServerSpan(id, []byte(body)); err == nil {
			t.Errorf("%s: CheckServerSpan = nil, want an error", name)
		}
	}
}

func TestTraceDuration(t *testing.T) {
	body := `{"data":[{"traceID":"aa","spans":[{"startTime":1000,"duration":5000},{"startTime":2000,"duration":30000},{"startTime":500,"duration":10}]}]}`
	if d, err := proof.TraceDuration([]byte(body)); err != nil || d != 31500*time.Microsecond {
		t.Fatalf("TraceDuration = %s, %v; want 31.5ms", d, err)
	}
	for _, bad := range []string{`{"data":[]}`, `{"data":[{"spans":[]}]}`, `<html>`} {
		if _, err := proof.TraceDuration([]byte(bad)); err == nil {
			t.Errorf("TraceDuration(%s) = nil error", bad)
		}
	}
}
