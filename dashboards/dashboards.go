// Package dashboards builds the project's Grafana dashboards as code with the Grafana Foundation
// SDK. The JSON that Grafana provisions (dashboards/json/) is generated from here by
// `make dashboards` (go run ./dashboards/gen); a test fails when the committed JSON is stale.
//
// Every query uses only the metric names in docs/contracts.md, and the proof
// (scripts/proof.sh, dashboards/proof) runs each one against a live Prometheus after a bench.
package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Data-source UIDs. They are fixed in deploy/grafana/provisioning/datasources/datasources.yaml;
// a test checks that the two agree, because a dashboard that names a UID Grafana does not know
// shows "data source not found" on every panel.
const (
	PrometheusUID = "prometheus"
	JaegerUID     = "jaeger"
)

// Prometheus job names, as written by deploy/prometheus/prometheus.yml.tmpl and the compose
// Prometheus config. ServerJob is only the default of the dashboards' job variable: a
// Prometheus of the user's own (a Kubernetes ServiceMonitor names jobs after the service) picks
// another, and every server query follows it.
const (
	ServerJob  = "items-server"
	HarnessJob = "loadtest"
)

// JobVar is the dashboard variable holding the server's scrape job; serverJobSel uses it.
const (
	JobVar       = "job"
	serverJobSel = `job="$` + JobVar + `"`
)

// ExemplarTraceIDLabel is the exemplar label the server puts a trace id in (the server's
// httpapi.ExemplarTraceIDLabel; server packages are internal, so the name is repeated here and
// the live proof checks that Prometheus really holds exemplars under it).
const ExemplarTraceIDLabel = "trace_id"

// DefaultJaegerURL is the Jaeger UI the trace links open unless the dashboard's jaeger_url
// variable is changed: both the compose stack and the local stack publish it there.
const DefaultJaegerURL = "http://127.0.0.1:16686"

// File is one generated dashboard and the file name it is written to under dashboards/json/.
type File struct {
	Name      string
	Dashboard dashboard.Dashboard
}

// All builds every dashboard, in a fixed order.
func All() ([]File, error) {
	builders := []struct {
		name  string
		build func() (dashboard.Dashboard, error)
	}{
		{"items-server.json", ItemsServer},
		{"load-test.json", LoadTest},
	}
	files := make([]File, 0, len(builders))
	for _, b := range builders {
		d, err := b.build()
		if err != nil {
			return nil, fmt.Errorf("build dashboard %s: %w", b.name, err)
		}
		files = append(files, File{Name: b.name, Dashboard: d})
	}
	return files, nil
}

// Marshal renders a dashboard the way it is committed: indented, with a final newline, so that
// the stale check compares bytes and a diff of the JSON reads line by line.
func Marshal(d dashboard.Dashboard) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("marshal dashboard %s: %w", deref(d.Title), err)
	}
	return buf.Bytes(), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// promRef is the Prometheus data source every panel and variable uses.
func promRef() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr(PrometheusUID)}
}

// layout hands out panel ids and grid positions. The SDK positions panels but leaves ids unset,
// and Grafana needs unique ids for links to a single panel (viewPanel=ID).
type layout struct {
	nextID uint32
}

func (l *layout) id() uint32 {
	l.nextID++
	return l.nextID
}

// row is a row header; rows take ids from the same sequence as panels.
func (l *layout) row(title string) *dashboard.RowBuilder {
	return dashboard.NewRowBuilder(title).Id(l.id())
}

// query is one PromQL target; legend uses Grafana's {{label}} templating.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(promRef()).
		Expr(expr).
		LegendFormat(legend).
		Range()
}

// series is a time-series panel with a unit and one or more targets, each with its own refId.
func (l *layout) series(title, description, unit string, width uint32, targets ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().
		Id(l.id()).
		Title(title).
		Description(description).
		Datasource(promRef()).
		Unit(unit).
		Height(8).
		Span(width).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever)
	for i, t := range targets {
		p.WithTarget(t.RefId(string(rune('A' + i))))
	}
	return p
}

// queryVariable is a multi-value variable over a label, "All" meaning any value (.+), so that
// `label=~"$var"` in a query matches every series when nothing is picked.
func queryVariable(name, label, promQL string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(promRef()).
		Query(dashboard.StringOrMap{String: &promQL}).
		Definition(promQL).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".+").
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value: dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		})
}

// jobVariable picks the server's scrape job among the jobs that have its request histogram,
// items-server by default: a single value, as a job is one deployment.
func jobVariable() *dashboard.QueryVariableBuilder {
	promQL := "label_values(http_server_request_duration_seconds_count, job)"
	return dashboard.NewQueryVariableBuilder(JobVar).
		Label("Server job").
		Description("Prometheus job that scrapes the items server's admin /metrics (items-server in this project's stacks).").
		Datasource(promRef()).
		Query(dashboard.StringOrMap{String: &promQL}).
		Definition(promQL).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr(ServerJob)},
			Value: dashboard.StringOrArrayOfString{String: cog.ToPtr(ServerJob)},
		})
}

// jaegerURLVariable lets a viewer point the trace links at another Jaeger UI without editing
// the dashboard (a Jaeger behind a proxy, another port).
func jaegerURLVariable() *dashboard.TextBoxVariableBuilder {
	return dashboard.NewTextBoxVariableBuilder("jaeger_url").
		Label("Jaeger UI").
		Description("Base URL of the Jaeger UI that trace links open.").
		DefaultValue(dashboard.StringOrMap{String: cog.ToPtr(DefaultJaegerURL)}).
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr(DefaultJaegerURL)},
			Value: dashboard.StringOrArrayOfString{String: cog.ToPtr(DefaultJaegerURL)},
		})
}

// valueMap maps exact numeric values to display text, for gauges that encode a state as 0/1.
func valueMap(texts map[string]string, colors map[string]string) []dashboard.ValueMapping {
	opts := make(map[string]dashboard.ValueMappingResult, len(texts))
	for v, text := range texts {
		r := dashboard.ValueMappingResult{Text: cog.ToPtr(text)}
		if c, ok := colors[v]; ok {
			r.Color = cog.ToPtr(c)
		}
		opts[v] = r
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}}
}
