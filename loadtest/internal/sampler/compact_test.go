package sampler

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
)

// TestCompactPageOnTheRealServer starts the items server: Probe must pick its compact page, the
// page must serve every series a sample reads (Series), and a sample read from it must agree
// with one read from the full /metrics on the figures that do not move at rest.
func TestCompactPageOnTheRealServer(t *testing.T) {
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_DATABASE_URL is not set (CI=true)")
		}
		t.Skip("TEST_DATABASE_URL is not set")
	}
	bin := filepath.Join(t.TempDir(), "server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/benchharness/benchharness/server").CombinedOutput(); err != nil {
		t.Fatalf("build server: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := serverctl.Start(ctx, serverctl.Config{Bin: bin, DatabaseURL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(5 * time.Second) })

	full := srv.Admin() + "/metrics"
	sig := Probe(ctx, []string{full}, nil)
	if want := full + CompactPath; sig.MetricsURL != want {
		t.Fatalf("Probe chose %q, want the compact page %q", sig.MetricsURL, want)
	}
	if !sig.InFlight || !sig.Cancelled || !sig.Pool || sig.Goroutines != FromMetrics {
		t.Errorf("signals on the compact page: %+v, want in-flight, cancelled, pool and goroutines", sig)
	}
	fams, err := NewFor(sig, nil, "", 0, 0).scrape(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Series() {
		if _, ok := fams[name]; !ok {
			// http_server_requests_cancelled_total has no series before a first cancel; its
			// family is still described on the page, which is what Probe checks.
			t.Errorf("the compact page lacks %s", name)
		}
	}
	compact := NewFor(sig, nil, "", 0, 0).Sample(ctx, 0)
	whole := New(srv.Admin(), nil, "", 0).Sample(ctx, 0)
	if compact.ScrapeFailed || whole.ScrapeFailed {
		t.Fatalf("compact %+v, full %+v: a scrape failed", compact, whole)
	}
	compact.Goroutines, whole.Goroutines, compact.HeapBytes, whole.HeapBytes = 0, 0, 0, 0
	compact.Runnable, whole.Runnable, compact.RSSBytes, whole.RSSBytes, compact.OpenFDs, whole.OpenFDs = 0, 0, 0, 0, 0, 0
	// Counters may move at rest between the two reads (a CI run saw the mutex wait rise by
	// 1.8 ms): the full page's, read second, must be no lower.
	for _, f := range []struct {
		name           string
		compact, whole *float64
	}{
		{"pool wait", &compact.PoolWaitTotal, &whole.PoolWaitTotal},
		{"mutex wait", &compact.MutexWaitTotal, &whole.MutexWaitTotal},
		{"Go CPU", &compact.GoCPUTotal, &whole.GoCPUTotal},
		{"Go idle CPU", &compact.GoCPUIdleTotal, &whole.GoCPUIdleTotal},
		{"GC CPU", &compact.GCCPUTotal, &whole.GCCPUTotal},
		{"GC assist", &compact.GCAssistTotal, &whole.GCAssistTotal},
		{"GC idle mark", &compact.GCIdleMarkTotal, &whole.GCIdleMarkTotal},
	} {
		if *f.whole < *f.compact {
			t.Errorf("%s: %v on the full page read after %v on the compact one: a counter went back", f.name, *f.whole, *f.compact)
		}
		*f.whole = *f.compact
	}
	if !reflect.DeepEqual(compact, whole) {
		t.Errorf("sample from the compact page %+v\nfrom /metrics                %+v", compact, whole)
	}
}
