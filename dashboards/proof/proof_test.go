package proof_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/benchharness/benchharness/dashboards"
	"github.com/benchharness/benchharness/dashboards/proof"
)

// TestProof is the live check. scripts/proof.sh (make proof) runs it after a bench against the
// local stack; run alone, without PROOF_STACK_ENV, it skips and says how to run it. Once
// PROOF_STACK_ENV is set, an unreachable Prometheus or Jaeger fails, it never skips.
func TestProof(t *testing.T) {
	envPath := os.Getenv("PROOF_STACK_ENV")
	if envPath == "" {
		t.Skip("the live proof runs through `make proof` (scripts/proof.sh), which sets PROOF_STACK_ENV and PROOF_RUN_DIR")
	}
	env, err := proof.ReadEnv(envPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"PROMETHEUS_URL", "JAEGER_URL", "STARTED_AT"} {
		if env[k] == "" {
			t.Fatalf("%s: no %s", envPath, k)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}

	t.Run("stack listens on loopback only", func(t *testing.T) {
		for _, name := range []string{"JAEGER_PID", "PROMETHEUS_PID"} {
			pid, err := strconv.Atoi(env[name])
			if err != nil {
				t.Fatalf("%s %q: %v", name, env[name], err)
			}
			ls, err := proof.ProcessListeners(pid)
			if err != nil {
				t.Fatal(err)
			}
			if len(ls) == 0 {
				t.Errorf("%s %d: no listening socket found (process gone?)", name, pid)
			}
			for _, l := range ls {
				if !l.Addr.Addr().IsLoopback() {
					t.Errorf("%s %d listens on %s, not loopback", name, pid, l.Addr)
				}
			}
			t.Logf("%s %d listens on %v", name, pid, ls)
		}
	})
	t.Run("dashboards parse and use provisioned UIDs", func(t *testing.T) {
		checkProvisioning(t)
	})
	t.Run("every dashboard query returns data", func(t *testing.T) {
		checkQueries(ctx, t, client, env)
	})
	t.Run("server queries follow the job variable", func(t *testing.T) {
		checkJobVariable(ctx, t, client, env)
	})
	runDir := os.Getenv("PROOF_RUN_DIR")
	if runDir == "" {
		t.Fatal("PROOF_RUN_DIR (the bench's run folder) is not set")
	}
	checkTailSampling(ctx, t, client, env, runDir)
}

func loadDashboards(t *testing.T) []dashboardFile {
	t.Helper()
	files, err := dashboards.ReadDir("../json")
	if err != nil {
		t.Fatal(err)
	}
	var out []dashboardFile
	for _, f := range files {
		out = append(out, dashboardFile{path: f.Name, queries: dashboards.Queries(f.Dashboard), uids: dashboards.DatasourceUIDs(f.Dashboard), exemplars: dashboards.CheckExemplars(f.Dashboard), jobs: dashboards.CheckJobs(f.Dashboard)})
	}
	return out
}

type dashboardFile struct {
	path      string
	queries   []dashboards.Query
	uids      []string
	exemplars error // dashboards.CheckExemplars: latency queries without exemplars
	jobs      error // dashboards.CheckJobs: server selectors not on $job
}

func checkProvisioning(t *testing.T) {
	b, err := os.ReadFile("../../deploy/grafana/provisioning/datasources/datasources.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		Datasources []struct {
			UID string `yaml:"uid"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &prov); err != nil {
		t.Fatal(err)
	}
	var provisioned []string
	for _, ds := range prov.Datasources {
		provisioned = append(provisioned, ds.UID)
	}
	for _, d := range loadDashboards(t) {
		if err := errors.Join(d.exemplars, d.jobs); err != nil {
			t.Errorf("%s: %v", d.path, err)
		}
		for _, u := range d.uids {
			if !slices.Contains(provisioned, u) {
				t.Errorf("%s uses data source %q; provisioning has %v", d.path, u, provisioned)
			}
		}
	}
}

// variableValues are what a viewer gets with every variable on All and the server's scrape job
// set to job; the intervals are the ones Grafana would pick for a 1 s scrape interval (at least
// four scrapes per rate window).
func variableValues(scrape time.Duration, job string) map[string]string {
	win := max(4*scrape, 5*time.Second)
	return map[string]string{
		dashboards.JobVar: job,
		"instance":        ".+",
		"route":           ".+",
		"scenario":        ".+",
		"__rate_interval": strconv.Itoa(int(win.Seconds())) + "s",
		"__interval":      strconv.Itoa(int(win.Seconds())) + "s",
		"__range":         "5m",
		"__range_s":       "300",
		"__interval_ms":   strconv.FormatInt(win.Milliseconds(), 10),
	}
}

// queryWindow is the bench's span of time and the variables' values for its scrape interval.
type queryWindow struct {
	start, end time.Time
	scrape     time.Duration
}

func windowOf(t *testing.T, env map[string]string) queryWindow {
	started, err := strconv.ParseInt(env["STARTED_AT"], 10, 64)
	if err != nil {
		t.Fatalf("STARTED_AT %q: %v", env["STARTED_AT"], err)
	}
	scrape, err := time.ParseDuration(env["SCRAPE_INTERVAL"])
	if err != nil {
		scrape = time.Second
	}
	return queryWindow{start: time.Unix(started, 0), end: time.Now(), scrape: scrape}
}

// seriesOf runs one dashboard query with the variables of job substituted and counts its series
// with a finite value. A query that does not parse is an error; an unreachable Prometheus fails
// the test.
func seriesOf(ctx context.Context, t *testing.T, c *http.Client, promURL string, w queryWindow, q dashboards.Query, job string) (int, string, error) {
	expr, err := proof.Substitute(proof.VariableQuery(q.Expr), variableValues(w.scrape, job))
	if err != nil {
		return 0, "", err
	}
	body, err := proof.QueryRange(ctx, c, promURL, expr, w.start, w.end, time.Second)
	if err != nil {
		t.Fatalf("Prometheus at %s: %v", promURL, err)
	}
	n, err := proof.CountSeries(body)
	return n, expr, err
}

func checkQueries(ctx context.Context, t *testing.T, c *http.Client, env map[string]string) {
	w := windowOf(t, env)
	n := 0
	// Annotations mark events (a SIGTERM, a cancel wave) that a given bench may not have; one
	// annotation with data is enough to show the expression works. Panels must all have data.
	var annotationsWithData int
	var annotationsEmpty []string
	for _, d := range loadDashboards(t) {
		for _, q := range d.queries {
			n++
			series, expr, err := seriesOf(ctx, t, c, env["PROMETHEUS_URL"], w, q, dashboards.ServerJob)
			if err != nil {
				t.Errorf("%s\n\t%v", q, err)
				continue
			}
			isAnnotation := strings.HasPrefix(q.Panel, "annotation: ")
			switch {
			case series > 0 && isAnnotation:
				annotationsWithData++
			case isAnnotation:
				annotationsEmpty = append(annotationsEmpty, q.Panel)
				continue
			case series == 0:
				t.Errorf("no data: dashboard %q, panel %q, query %s: %s", q.Dashboard, q.Panel, q.RefID, expr)
				continue
			}
			t.Logf("%d series: %s / %s / %s", series, q.Dashboard, q.Panel, q.RefID)
		}
	}
	if n == 0 {
		t.Fatal("no queries found in the dashboards")
	}
	if len(annotationsEmpty) > 0 {
		if annotationsWithData == 0 {
			t.Errorf("no annotation query returned data: %v", annotationsEmpty)
		} else {
			t.Logf("annotations without events in this bench: %v", annotationsEmpty)
		}
	}
}

// checkJobVariable runs every query that uses the job variable twice more: with the stack's
// second scrape job over the same servers (SERVER_JOB_ALIAS, a Prometheus that names jobs its
// own way) each must have data, and with a job nobody scrapes each must have none (the query
// really filters on the variable).
func checkJobVariable(ctx context.Context, t *testing.T, c *http.Client, env map[string]string) {
	alias := env["SERVER_JOB_ALIAS"]
	if alias == "" {
		t.Fatal("the stack has no SERVER_JOB_ALIAS (scripts/proof.sh sets STACK_SERVER_JOB_ALIAS)")
	}
	w := windowOf(t, env)
	n := 0
	for _, d := range loadDashboards(t) {
		for _, q := range d.queries {
			if !strings.Contains(q.Expr, "$"+dashboards.JobVar) || strings.HasPrefix(q.Panel, "annotation: ") {
				continue
			}
			n++
			for _, job := range []string{alias, "no-such-job"} {
				series, expr, err := seriesOf(ctx, t, c, env["PROMETHEUS_URL"], w, q, job)
				switch {
				case err != nil:
					t.Errorf("%s\n\t%v", q, err)
				case job == alias && series == 0:
					t.Errorf("no data with job %q: %s / %s / %s: %s", job, q.Dashboard, q.Panel, q.RefID, expr)
				case job != alias && series > 0:
					t.Errorf("%d series with job %q that nobody scrapes: %s / %s / %s: %s", series, job, q.Dashboard, q.Panel, q.RefID, expr)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no dashboard query uses the job variable")
	}
	t.Logf("%d queries with $%s: data under job %q, none under a job nobody scrapes", n, dashboards.JobVar, alias)
}

func TestSubstitute(t *testing.T) {
	values := map[string]string{"instance": ".+", "__rate_interval": "5s"}
	tests := []struct {
		expr, want, wantErr string
	}{
		{`rate(x{instance=~"$instance"}[$__rate_interval])`, `rate(x{instance=~".+"}[5s])`, ""},
		{`x{instance=~"${instance}"}`, `x{instance=~".+"}`, ""},
		{`x{instance=~"${instance:regex}"}`, `x{instance=~".+"}`, ""},
		{`x{route=~"$route", instance=~"$instance"}`, "", "route"},
	}
	for _, tt := range tests {
		got, err := proof.Substitute(tt.expr, values)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Substitute(%q) error = %v, want one naming %q", tt.expr, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Substitute(%q) = %q, %v; want %q", tt.expr, got, err, tt.want)
		}
	}
}

// TestEveryDashboardQuerySubstitutes catches a dashboard variable the proof does not know: its
// queries would be sent with a literal $ and fail for the wrong reason.
func TestEveryDashboardQuerySubstitutes(t *testing.T) {
	values := variableValues(time.Second, dashboards.ServerJob)
	for _, d := range loadDashboards(t) {
		for _, q := range d.queries {
			if _, err := proof.Substitute(q.Expr, values); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	}
}

func TestVariableQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{`label_values(go_goroutines{job="items-server"}, instance)`, `count by (instance) (go_goroutines{job="items-server"})`},
		{`label_values(x{a="1", b=~"$b"},route)`, `count by (route) (x{a="1", b=~"$b"})`},
		{`sum(rate(x[5m]))`, `sum(rate(x[5m]))`},
	}
	for _, tt := range tests {
		if got := proof.VariableQuery(tt.in); got != tt.want {
			t.Errorf("VariableQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCountSeries(t *testing.T) {
	tests := []struct {
		name, body string
		want       int
		wantErr    string
	}{
		{"two series", `{"status":"success","data":{"resultType":"matrix","result":[
			{"metric":{"a":"1"},"values":[[1,"0"],[2,"1"]]},
			{"metric":{"a":"2"},"values":[[1,"3"]]}]}}`, 2, ""},
		{"no series", `{"status":"success","data":{"resultType":"matrix","result":[]}}`, 0, ""},
		{"only NaN", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"NaN"],[2,"NaN"]]}]}}`, 0, ""},
		{"bad query", `{"status":"error","errorType":"bad_data","error":"parse error"}`, 0, "parse error"},
		{"not json", `<html>`, 0, "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := proof.CountSeries([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("CountSeries error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CountSeries = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

// jaegerJSON builds a Jaeger /api/traces answer: a server span "s1" and the given extra spans.
func jaegerJSON(traceID, route string, extra ...string) string {
	server := `{"traceID":"` + traceID + `","spanID":"s1","operationName":"GET","references":[],"tags":[{"key":"span.kind","value":"server"}`
	if route != "" {
		server += `,{"key":"http.route","value":"` + route + `"}`
	}
	server += `]}`
	spans := append([]string{server}, extra...)
	return `{"data":[{"traceID":"` + traceID + `","spans":[` + strings.Join(spans, ",") + `]}]}`
}

func dbSpan(id, parent, key string) string {
	return fmt.Sprintf(`{"spanID":%q,"operationName":"SELECT","references":[{"refType":"CHILD_OF","spanID":%q}],"tags":[{"key":"span.kind","value":"client"},{"key":%q,"value":"postgresql"}]}`, id, parent, key)
}

func TestCheckTrace(t *testing.T) {
	const id = "0af7651916cd43dd8448eb211c80319c"
	tests := []struct {
		name, id, body, wantErr string
	}{
		{"child", id, jaegerJSON(id, "/api/v1/items", dbSpan("d1", "s1", "db.system.name")), ""},
		{"grandchild, old attribute name", id, jaegerJSON(id, "/api/v1/items", dbSpan("d1", "s1", "db.system"), dbSpan("d2", "d1", "db.system")), ""},
		{"leading zero dropped by Jaeger", "00f7651916cd43dd8448eb211c80319c", jaegerJSON("f7651916cd43dd8448eb211c80319c", "/x", dbSpan("d1", "s1", "db.system")), ""},
		{"no route", id, jaegerJSON(id, "", dbSpan("d1", "s1", "db.system.name")), "no server span with an http.route"},
		{"no database span", id, jaegerJSON(id, "/api/v1/items"), "no PostgreSQL span"},
		{"database span elsewhere", id, jaegerJSON(id, "/api/v1/items", dbSpan("d1", "other", "db.system.name")), "no PostgreSQL span"},
		{"another trace", id, jaegerJSON("1111", "/api/v1/items", dbSpan("d1", "s1", "db.system.name")), "returned trace 1111"},
		{"empty", id, `{"data":[]}`, "0 traces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := proof.CheckTrace(tt.id, []byte(tt.body))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckTrace = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckTrace = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckLink(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/trace/ok":
			fmt.Fprint(w, "<!DOCTYPE html><html><body>viewer</body></html>")
		case "/trace/json":
			fmt.Fprint(w, `{"data":[]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := srv.Client()
	if err := proof.CheckLink(context.Background(), c, srv.URL+"/trace/ok"); err != nil {
		t.Fatalf("CheckLink(page) = %v", err)
	}
	for _, path := range []string{"/trace/json", "/gone"} {
		if err := proof.CheckLink(context.Background(), c, srv.URL+path); err == nil {
			t.Errorf("CheckLink(%s) = nil, want an error", path)
		}
	}
}

func TestListedRequests(t *testing.T) {
	got, err := proof.ListedRequests([]byte(`{"schema_version":2,"scenarios":[
		{"name":"steady","slowest":[
			{"code":200,"latency_ms":9,"trace_id":"aa","sampled":true,"trace_found":true},
			{"code":200,"latency_ms":8,"trace_id":"bb","sampled":false},
			{"code":0,"latency_ms":7,"trace_id":"cc","sampled":true,"error":"dial tcp: connect: connection refused"},
			{"code":0,"latency_ms":100,"trace_id":"ee","sampled":true,"error":"context deadline exceeded"},
			{"code":200,"latency_ms":6,"sampled":true}]},
		{"name":"shutdown","slowest":[],"lost":[{"code":0,"latency_ms":5,"trace_id":"dd","sampled":true,"error":"EOF"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.List+":"+r.TraceID)
	}
	if want := []string{"slowest:aa", "slowest:bb", "slowest:ee", "lost:dd"}; !slices.Equal(ids, want) {
		t.Fatalf("ListedRequests = %v, want %v (refused and id-less requests left out, unsampled ones kept)", ids, want)
	}
	if got[0].TraceFound == nil || !*got[0].TraceFound || got[1].TraceFound != nil {
		t.Fatalf("trace_found not read: %v, %v", got[0].TraceFound, got[1].TraceFound)
	}
	if _, err := proof.ListedRequests([]byte(`{"schema_version":99}`)); err == nil {
		t.Fatal("ListedRequests accepted schema_version 99")
	}
	// What loadtest run writes today (summary.SchemaVersion 3: the like-for-like key).
	if _, err := proof.ListedRequests([]byte(`{"schema_version":3,"scenarios":[]}`)); err != nil {
		t.Fatalf("ListedRequests refused schema_version 3: %v", err)
	}
}

func TestParseProcNetTCP(t *testing.T) {
	const v4 = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 20 4 30 10 -1
`
	const v6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 444 1 0 100 0 0 10 0
   1: 00000000000000000000000000000000:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0 100 0 0 10 0
`
	var got []string
	for _, table := range []string{v4, v6} {
		ls, err := proof.ParseProcNetTCP(strings.NewReader(table))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			got = append(got, fmt.Sprintf("%s %s loopback=%v", l.Inode, l.Addr, l.Addr.Addr().IsLoopback()))
		}
	}
	want := []string{
		"111 127.0.0.1:8080 loopback=true",
		"222 0.0.0.0:22 loopback=false", // every interface: what the proof rejects
		"444 [::1]:8081 loopback=true",
		"555 [::]:8082 loopback=false",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ParseProcNetTCP =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestProcessListenersOfThisProcess(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler()) // listens on 127.0.0.1
	defer srv.Close()
	ls, err := proof.ProcessListeners(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	want := srv.Listener.Addr().String()
	for _, l := range ls {
		if l.Addr.String() == want {
			return
		}
	}
	t.Fatalf("ProcessListeners(self) = %v, want it to include %s", ls, want)
}

func TestReadEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(p, []byte("# c\n\nA=1\nDATABASE_URL=postgres://x@h:1/d?sslmode=disable\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env, err := proof.ReadEnv(p)
	if err != nil {
		t.Fatal(err)
	}
	if env["A"] != "1" || env["DATABASE_URL"] != "postgres://x@h:1/d?sslmode=disable" {
		t.Fatalf("ReadEnv = %v", env)
	}
	if err := os.WriteFile(p, []byte("oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := proof.ReadEnv(p); err == nil {
		t.Fatal("ReadEnv accepted a line without =")
	}
}
