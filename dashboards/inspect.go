package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// registerPlugins is needed once before the SDK can decode panel options and data queries into
// their typed forms (prometheus.Dataquery instead of an opaque map). The SDK keeps the registry
// in a package variable, so this is done lazily and once, not in an init().
var registerPlugins = sync.OnceFunc(plugins.RegisterDefaultPlugins)

// Parse decodes dashboard JSON into the SDK's Dashboard type, with panels and their targets in
// their typed forms (a Prometheus target becomes a prometheus.Dataquery).
//
// It uses the SDK's regular decoder. The SDK's strict one (UnmarshalJSONStrict) is unusable in
// v0.0.22: it returns an empty BuildErrors slice as a non-nil error, and its own callers treat
// that as a failure and silently drop every panel.
func Parse(data []byte) (dashboard.Dashboard, error) {
	registerPlugins()
	var d dashboard.Dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return dashboard.Dashboard{}, fmt.Errorf("parse dashboard: %w", err)
	}
	if d.Uid == nil || d.Title == nil {
		return dashboard.Dashboard{}, errors.New("parse dashboard: no uid or title: not a dashboard")
	}
	return d, nil
}

// Query is one PromQL expression of a dashboard: a panel target, a query variable (in Grafana's
// label_values(SELECTOR, LABEL) form) or an annotation.
type Query struct {
	Dashboard string // dashboard title
	Panel     string // panel title, or "annotation: NAME"
	RefID     string
	Expr      string
}

func (q Query) String() string {
	return fmt.Sprintf("%s / %s / %s: %s", q.Dashboard, q.Panel, q.RefID, q.Expr)
}

// Panels returns every panel that is not a row, including panels nested in collapsed rows.
func Panels(d dashboard.Dashboard) []dashboard.Panel {
	var out []dashboard.Panel
	for _, p := range d.Panels {
		if p.Panel != nil {
			out = append(out, *p.Panel)
		}
		if p.RowPanel != nil {
			out = append(out, p.RowPanel.Panels...)
		}
	}
	return out
}

// promQuery returns the Prometheus query inside a decoded or built target, or false when the
// target is of another data source type (or was not decoded into a typed query at all).
func promQuery(t variants.Dataquery) (prometheus.Dataquery, bool) {
	switch q := t.(type) {
	case prometheus.Dataquery:
		return q, true
	case *prometheus.Dataquery:
		if q == nil {
			return prometheus.Dataquery{}, false
		}
		return *q, true
	}
	return prometheus.Dataquery{}, false
}

// Queries lists every query of a dashboard: each panel target, query variable and annotation.
func Queries(d dashboard.Dashboard) []Query {
	title := deref(d.Title)
	var out []Query
	for _, p := range Panels(d) {
		for _, t := range p.Targets {
			q, ok := promQuery(t)
			if !ok {
				continue
			}
			out = append(out, Query{Dashboard: title, Panel: deref(p.Title), RefID: deref(q.RefId), Expr: q.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != dashboard.VariableTypeQuery || v.Query == nil || v.Query.String == nil {
			continue
		}
		out = append(out, Query{Dashboard: title, Panel: "variable: " + v.Name, RefID: "variable", Expr: *v.Query.String})
	}
	for _, a := range d.Annotations.List {
		expr := deref(a.Expr)
		if q, ok := promQuery(a.Target); ok && q.Expr != "" {
			expr = q.Expr
		}
		if expr == "" {
			continue
		}
		out = append(out, Query{Dashboard: title, Panel: "annotation: " + a.Name, RefID: "annotation", Expr: expr})
	}
	return out
}

// DatasourceUIDs returns the sorted, distinct data-source UIDs a dashboard refers to: panels,
// their targets, variables and annotations.
func DatasourceUIDs(d dashboard.Dashboard) []string {
	seen := map[string]bool{}
	add := func(uid *string) {
		if uid != nil && *uid != "" {
			seen[*uid] = true
		}
	}
	for _, p := range Panels(d) {
		if p.Datasource != nil {
			add(p.Datasource.Uid)
		}
		for _, t := range p.Targets {
			if q, ok := promQuery(t); ok && q.Datasource != nil {
				add(q.Datasource.Uid)
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Datasource != nil {
			add(v.Datasource.Uid)
		}
	}
	for _, a := range d.Annotations.List {
		if a.Datasource != nil {
			add(a.Datasource.Uid)
		}
	}
	uids := make([]string, 0, len(seen))
	for u := range seen {
		uids = append(uids, u)
	}
	sort.Strings(uids)
	return uids
}

// Check enforces the rules every dashboard here follows: each panel has a title, a unit and at
// least one Prometheus query with an expression; panel ids are unique. It returns every
// violation, not just the first, each naming the dashboard and panel.
func Check(d dashboard.Dashboard) error {
	title := deref(d.Title)
	var errs []error
	ids := map[uint32]string{}
	for _, r := range d.Panels {
		if r.RowPanel != nil {
			if prev, dup := ids[r.RowPanel.Id]; dup {
				errs = append(errs, fmt.Errorf("%s: row %q reuses id %d of %q", title, deref(r.RowPanel.Title), r.RowPanel.Id, prev))
			}
			ids[r.RowPanel.Id] = deref(r.RowPanel.Title)
		}
	}
	for _, p := range Panels(d) {
		name := deref(p.Title)
		if name == "" {
			errs = append(errs, fmt.Errorf("%s: a %s panel has no title", title, p.Type))
		}
		if p.Id == nil {
			errs = append(errs, fmt.Errorf("%s / %s: no panel id", title, name))
		} else {
			if prev, dup := ids[*p.Id]; dup {
				errs = append(errs, fmt.Errorf("%s / %s: reuses id %d of %q", title, name, *p.Id, prev))
			}
			ids[*p.Id] = name
		}
		if p.FieldConfig == nil || deref(p.FieldConfig.Defaults.Unit) == "" {
			errs = append(errs, fmt.Errorf("%s / %s: no unit", title, name))
		}
		n := 0
		for _, t := range p.Targets {
			q, ok := promQuery(t)
			if !ok {
				errs = append(errs, fmt.Errorf("%s / %s: a target is not a Prometheus query (%T)", title, name, t))
				continue
			}
			if strings.TrimSpace(q.Expr) == "" {
				errs = append(errs, fmt.Errorf("%s / %s / %s: empty expression", title, name, deref(q.RefId)))
				continue
			}
			n++
		}
		if n == 0 {
			errs = append(errs, fmt.Errorf("%s / %s: no query", title, name))
		}
	}
	return errors.Join(errs...)
}

// selector matches a PromQL vector selector with matchers: metric{...}.
var selector = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}`)

// CheckJobs enforces that every selector of a server metric filters on the job variable
// (job="$job") and every harness metric (loadtest_*) on the harness's job: a server query with
// the job name written out shows nothing on a Prometheus that names its jobs differently, and
// one with no job matcher mixes in the harness's own Go runtime series of the same name.
func CheckJobs(d dashboard.Dashboard) error {
	var errs []error
	for _, q := range Queries(d) {
		if q.Panel == "variable: "+JobVar {
			continue // lists the jobs: it cannot filter on itself
		}
		for _, m := range selector.FindAllStringSubmatch(q.Expr, -1) {
			want := serverJobSel
			if strings.HasPrefix(m[1], "loadtest_") {
				want = fmt.Sprintf("job=%q", HarnessJob)
			}
			if !strings.Contains(m[2], want) {
				errs = append(errs, fmt.Errorf("%s: selector %s{%s} does not filter on %s", q, m[1], m[2], want))
			}
		}
	}
	return errors.Join(errs...)
}

// LatencyTargets returns the Prometheus targets that read the server's request-duration
// histogram buckets (the latency panels), with their panel titles.
func LatencyTargets(d dashboard.Dashboard) map[string][]prometheus.Dataquery {
	out := map[string][]prometheus.Dataquery{}
	for _, p := range Panels(d) {
		for _, t := range p.Targets {
			if q, ok := promQuery(t); ok && strings.Contains(q.Expr, "http_server_request_duration_seconds_bucket") {
				out[deref(p.Title)] = append(out[deref(p.Title)], q)
			}
		}
	}
	return out
}

// CheckExemplars enforces that every query of the server's latency histogram asks Grafana for
// its exemplars, so that a point on a latency panel opens its trace (the Prometheus data source
// maps the exemplar's trace_id to Jaeger).
func CheckExemplars(d dashboard.Dashboard) error {
	var errs []error
	for panel, qs := range LatencyTargets(d) {
		for _, q := range qs {
			if q.Exemplar == nil || !*q.Exemplar {
				errs = append(errs, fmt.Errorf("%s / %s / %s: exemplars off on a latency query", deref(d.Title), panel, deref(q.RefId)))
			}
		}
	}
	return errors.Join(errs...)
}

// ReadDir parses every *.json dashboard in dir (the committed dashboards/json/), sorted by name.
func ReadDir(dir string) ([]File, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list dashboards in %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", dir)
	}
	out := make([]File, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read dashboard: %w", err)
		}
		d, err := Parse(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, File{Name: filepath.Base(p), Dashboard: d})
	}
	return out, nil
}
