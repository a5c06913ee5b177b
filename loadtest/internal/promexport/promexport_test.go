package promexport

import (
	"io"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// value returns the value of the series with these labels; it fails the test when the series
// is absent.
func value(t *testing.T, m *Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := m.Value(name, labels)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

func seriesCount(t *testing.T, m *Metrics, name string) int {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func TestMetricsValues(t *testing.T) {
	m := New()
	m.SetTargetRate("steady", 100)
	m.Running("steady", true)
	m.Event("steady", summary.EventStart)
	m.Result("steady", 200, "", 3*time.Millisecond)
	m.Result("steady", 200, "", 30*time.Millisecond)
	m.Result("steady", 503, "http_5xx", 2*time.Second)
	m.Result("steady", 0, "refused", time.Millisecond)
	m.Event("shutdown", summary.EventSigterm)

	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"requests 200", value(t, m, "loadtest_requests_total", map[string]string{"scenario": "steady", "status": "200"}), 2},
		{"requests 503", value(t, m, "loadtest_requests_total", map[string]string{"scenario": "steady", "status": "503"}), 1},
		{"requests 0 (transport)", value(t, m, "loadtest_requests_total", map[string]string{"scenario": "steady", "status": "0"}), 1},
		{"errors http_5xx", value(t, m, "loadtest_errors_total", map[string]string{"scenario": "steady", "class": "http_5xx"}), 1},
		{"errors refused", value(t, m, "loadtest_errors_total", map[string]string{"scenario": "steady", "class": "refused"}), 1},
		{"target rate", value(t, m, "loadtest_target_rate", map[string]string{"scenario": "steady"}), 100},
		{"running", value(t, m, "loadtest_scenario_running", map[string]string{"scenario": "steady"}), 1},
		{"event start", value(t, m, "loadtest_events_total", map[string]string{"scenario": "steady", "event": summary.EventStart}), 1},
		{"event sigterm", value(t, m, "loadtest_events_total", map[string]string{"scenario": "shutdown", "event": summary.EventSigterm}), 1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	// Every class exists from the start (at 0), and a success counts in none of them.
	if n := seriesCount(t, m, "loadtest_errors_total"); n != len(Classes()) {
		t.Errorf("%d error series, want %d: one per class, created at start", n, len(Classes()))
	}
	for _, c := range []string{"timeout", "reset", "eof", "cancelled", "http_4xx", "other"} {
		if got := value(t, m, "loadtest_errors_total", map[string]string{"scenario": "steady", "class": c}); got != 0 {
			t.Errorf("errors %s = %v, want 0", c, got)
		}
	}
	if got := value(t, m, "loadtest_events_total", map[string]string{"scenario": "steady", "event": summary.EventCancelWave}); got != 0 {
		t.Errorf("event cancel_wave = %v, want 0 (created at start)", got)
	}
	m.Running("steady", false)
	if got := value(t, m, "loadtest_scenario_running", map[string]string{"scenario": "steady"}); got != 0 {
		t.Errorf("running after stop = %v, want 0", got)
	}

	// The served text: histogram count and sum over the four results, with the contract's names.
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`loadtest_request_duration_seconds_count{scenario="steady"} 4`,
		`loadtest_request_duration_seconds_sum{scenario="steady"} 2.034`,
		`loadtest_request_duration_seconds_bucket{scenario="steady",le="0.005"} 2`,
		`loadtest_requests_total{scenario="steady",status="200"} 2`,
		`loadtest_errors_total{class="refused",scenario="steady"} 1`,
		`loadtest_target_rate{scenario="steady"} 100`,
		`loadtest_events_total{event="sigterm",scenario="shutdown"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.Result("x", 200, "", time.Millisecond)
	m.SetTargetRate("x", 1)
	m.Running("x", true)
	m.Event("x", summary.EventEnd)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Errorf("nil Metrics handler answered %d, want 404", rec.Code)
	}
}

// TestDashboardEvents checks that the load-test dashboard (generated JSON, kept fresh by the
// dashboards package's own test) annotates exactly the events that loadtest_events_total counts.
// The dashboards package cannot import summary's names, so a renamed event is caught here.
func TestDashboardEvents(t *testing.T) {
	b, err := os.ReadFile("../../../dashboards/json/load-test.json")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range regexp.MustCompile(`event=\\"([a-z0-9_]+)\\"`).FindAllSubmatch(b, -1) {
		got = append(got, string(m[1]))
	}
	slices.Sort(got)
	got = slices.Compact(got)
	want := slices.Sorted(slices.Values(Events()))
	if !slices.Equal(got, want) {
		t.Errorf("load-test.json annotates events %v, loadtest_events_total counts %v", got, want)
	}
}
