package dashboards_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/benchharness/benchharness/dashboards"
)

// committed parses every committed dashboard through the SDK's types.
func committed(t *testing.T) map[string]dashboard.Dashboard {
	t.Helper()
	files, err := dashboards.ReadDir(jsonDir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dashboard.Dashboard{}
	for _, f := range files {
		out[f.Name] = f.Dashboard
	}
	return out
}

// TestCommittedJobsAndExemplars checks that, in the committed JSON, every server selector follows
// the job variable (default items-server), and every latency query has exemplars on.
func TestCommittedJobsAndExemplars(t *testing.T) {
	for name, d := range committed(t) {
		t.Run(name, func(t *testing.T) {
			if err := dashboards.CheckJobs(d); err != nil {
				t.Error(err)
			}
			if err := dashboards.CheckExemplars(d); err != nil {
				t.Error(err)
			}
			if len(dashboards.LatencyTargets(d)) == 0 {
				t.Error("no latency panel (a query of http_server_request_duration_seconds_bucket) found")
			}
			var job *dashboard.VariableModel
			for i, v := range d.Templating.List {
				if v.Name == dashboards.JobVar {
					job = &d.Templating.List[i]
				}
			}
			if job == nil || job.Current == nil || job.Current.Value.String == nil || *job.Current.Value.String != dashboards.ServerJob {
				t.Errorf("no %q variable defaulting to %q: %+v", dashboards.JobVar, dashboards.ServerJob, job)
			}
		})
	}
}

// TestCheckJobsAndExemplarsFail breaks a built dashboard one rule at a time.
func TestCheckJobsAndExemplarsFail(t *testing.T) {
	setExpr := func(expr string) func(q *prometheus.Dataquery) {
		return func(q *prometheus.Dataquery) { q.Expr = expr }
	}
	tests := []struct {
		name   string
		mutate func(q *prometheus.Dataquery)
		check  func(dashboard.Dashboard) error
		want   string
	}{
		{"job written out", setExpr(`go_goroutines{job="items-server"}`), dashboards.CheckJobs, `does not filter on job="$job"`},
		{"no job matcher", setExpr(`go_goroutines{instance=~"$instance"}`), dashboards.CheckJobs, `does not filter on job="$job"`},
		{"harness metric on the server job", setExpr(`loadtest_target_rate{job="$job"}`), dashboards.CheckJobs, `does not filter on job="loadtest"`},
		{"exemplars off", func(q *prometheus.Dataquery) { q.Exemplar = cog.ToPtr(false) }, dashboards.CheckExemplars, "exemplars off"},
		{"exemplars unset", func(q *prometheus.Dataquery) { q.Exemplar = nil }, dashboards.CheckExemplars, "exemplars off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := dashboards.ItemsServer()
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.check(d); err != nil {
				t.Fatalf("pristine dashboard fails: %v", err)
			}
			mutateLatencyTarget(t, &d, tt.mutate)
			if err := tt.check(d); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("check = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// mutateLatencyTarget applies f to the first latency query of d, in place.
func mutateLatencyTarget(t *testing.T, d *dashboard.Dashboard, f func(q *prometheus.Dataquery)) {
	t.Helper()
	for _, p := range d.Panels {
		if p.Panel == nil {
			continue
		}
		for i, tg := range p.Panel.Targets {
			var c prometheus.Dataquery
			switch q := tg.(type) {
			case *prometheus.Dataquery:
				c = *q
			case prometheus.Dataquery:
				c = q
			default:
				continue
			}
			if !strings.Contains(c.Expr, "http_server_request_duration_seconds_bucket") {
				continue
			}
			f(&c)
			p.Panel.Targets[i] = &c
			return
		}
	}
	t.Fatal("no latency target found in the built dashboard")
}

// exemplarDestination returns the data-source UID that the provisioned Prometheus data source
// opens an exemplar's label in, or an error when none is set for label.
func exemplarDestination(provisioning []byte, label string) (string, error) {
	var prov struct {
		Datasources []struct {
			UID      string `yaml:"uid"`
			Type     string `yaml:"type"`
			JSONData struct {
				Destinations []struct {
					Name          string `yaml:"name"`
					DatasourceUID string `yaml:"datasourceUid"`
				} `yaml:"exemplarTraceIdDestinations"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(provisioning, &prov); err != nil {
		return "", fmt.Errorf("parse provisioning: %w", err)
	}
	for _, ds := range prov.Datasources {
		if ds.UID != dashboards.PrometheusUID {
			continue
		}
		for _, d := range ds.JSONData.Destinations {
			if d.Name == label {
				return d.DatasourceUID, nil
			}
		}
		return "", fmt.Errorf("data source %q sends no exemplar label %q to a trace data source", ds.UID, label)
	}
	return "", fmt.Errorf("no data source with uid %q", dashboards.PrometheusUID)
}

// TestExemplarsLinkToJaeger checks that the Prometheus data source sends the server's exemplar
// label to the Jaeger data source; a wrong label name or target is caught.
func TestExemplarsLinkToJaeger(t *testing.T) {
	b, err := os.ReadFile(datasourcesFile)
	if err != nil {
		t.Fatal(err)
	}
	uid, err := exemplarDestination(b, dashboards.ExemplarTraceIDLabel)
	if err != nil || uid != dashboards.JaegerUID {
		t.Fatalf("exemplar %q opens in %q (err %v), want the Jaeger data source %q", dashboards.ExemplarTraceIDLabel, uid, err, dashboards.JaegerUID)
	}
	renamed := strings.Replace(string(b), "- name: trace_id", "- name: traceID", 1)
	if _, err := exemplarDestination([]byte(renamed), dashboards.ExemplarTraceIDLabel); err == nil {
		t.Error("a destination for another label name was accepted")
	}
	elsewhere := strings.Replace(string(b), "datasourceUid: jaeger", "datasourceUid: tempo", 1)
	if uid, _ := exemplarDestination([]byte(elsewhere), dashboards.ExemplarTraceIDLabel); uid == dashboards.JaegerUID {
		t.Error("a destination to another data source read as Jaeger")
	}
}
