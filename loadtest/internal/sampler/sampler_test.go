package sampler

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// exposition is what the server's admin /metrics looks like (docs/contracts.md), trimmed.
const exposition = `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 17
# TYPE go_memstats_heap_alloc_bytes gauge
go_memstats_heap_alloc_bytes 2.5e+06
# TYPE http_server_requests_in_flight gauge
http_server_requests_in_flight 3
# TYPE http_server_requests_cancelled_total counter
http_server_requests_cancelled_total{route="/api/v1/items"} 4
http_server_requests_cancelled_total{route="/api/v1/item"} 2
# TYPE pgxpool_acquired_conns gauge
pgxpool_acquired_conns 2
# TYPE pgxpool_idle_conns gauge
pgxpool_idle_conns 5
# TYPE pgxpool_total_conns gauge
pgxpool_total_conns 7
# TYPE server_state gauge
server_state{state="draining"} 1
server_state{state="ready"} 0
server_state{state="stopped"} 0
`

func TestSampleParsesMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(exposition))
	}))
	defer srv.Close()

	got := New(srv.URL, nil, "", 0).Sample(context.Background(), 250*time.Millisecond)
	want := summary.Sample{OffsetMs: 250, Goroutines: 17, HeapBytes: 2.5e6, InFlight: 3, PoolAcquired: 2,
		PoolIdle: 5, PoolTotal: 7, Cancelled: 6, ServerState: "draining"}
	if got != want {
		t.Fatalf("Sample = %+v\nwant     %+v", got, want)
	}
}

func TestSampleMarksUnreachableServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	got := New(url, nil, "", 0).Sample(context.Background(), 0)
	if !got.ScrapeFailed || got.Goroutines != 0 || got.ServerState != "" {
		t.Fatalf("Sample of a closed port = %+v, want ScrapeFailed and zero figures", got)
	}
}

// TestSampleCountsServerQueries runs a pg_sleep on a connection named like the server's and one
// named otherwise: only the first may count as active and sleeping.
func TestSampleCountsServerQueries(t *testing.T) {
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_DATABASE_URL is not set (CI=true)")
		}
		t.Skip("TEST_DATABASE_URL is not set")
	}
	ctx := context.Background()
	connect := func(app string) *pgx.Conn {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["application_name"] = app
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	// other is another items server on the same PostgreSQL (default name): its sleeping query
	// must not count as this server's.
	const app = "items-server-0123456789ab"
	server, other, harness := connect(app), connect("items-server"), connect("loadtest")

	s := New("http://127.0.0.1:1", harness, app, 0)
	before := s.Sample(ctx, 0)
	if before.DBQueryFailed || before.DBActive != 0 || before.DBSleeping != 0 {
		t.Fatalf("idle database: %+v, want 0 active", before)
	}

	done := make(chan error, 2)
	go func() { _, err := server.Exec(ctx, "SELECT pg_sleep(1.5)"); done <- err }()
	go func() { _, err := other.Exec(ctx, "SELECT pg_sleep(1.5)"); done <- err }()
	var during summary.Sample
	for range 50 { // the sleeps start asynchronously; look until one is seen (≤ 1 s)
		during = s.Sample(ctx, 0)
		if during.DBSleeping > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if during.DBActive != 1 || during.DBSleeping != 1 {
		t.Errorf("during pg_sleep: active=%v sleeping=%v, want 1 and 1 (only the server's connection)", during.DBActive, during.DBSleeping)
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestStats(t *testing.T) {
	samples := []summary.Sample{
		{OffsetMs: 0, Goroutines: 10},
		{OffsetMs: 100, Goroutines: 12}, // baseline: last before the attack at 150
		{OffsetMs: 200, Goroutines: 40, PoolAcquired: 4, DBActive: 3, HeapBytes: 9},
		{OffsetMs: 300, ScrapeFailed: true},
		{OffsetMs: 400, Goroutines: 30},  // attack ended at 400: not yet settled
		{OffsetMs: 500, Goroutines: 13},  // within slack 2 → settled 100 ms after
		{OffsetMs: 600, Goroutines: 14},  // settle point
		{OffsetMs: 700, Goroutines: 100}, // past the settle point: ignored for "after"
	}
	got := Stats(samples, 150*time.Millisecond, 400*time.Millisecond, 600*time.Millisecond, 2)
	want := summary.ServerStats{GoroutinesBaseline: 12, GoroutinesPeak: 100, GoroutinesAfter: 14,
		HeapPeakBytes: 9, PoolAcquiredPeak: 4, DBActivePeak: 3, SettleMs: 100}
	if got != want {
		t.Fatalf("Stats = %+v\nwant   %+v", got, want)
	}
	never := Stats(samples[:5], 150*time.Millisecond, 400*time.Millisecond, 600*time.Millisecond, 2)
	if never.SettleMs != -1 {
		t.Errorf("SettleMs without a settled sample = %v, want -1", never.SettleMs)
	}
}

func TestStateNone(t *testing.T) {
	fams, err := Parse(strings.NewReader("# TYPE server_state gauge\nserver_state{state=\"ready\"} 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := State(fams); got != "" {
		t.Errorf("State with no series at 1 = %q, want empty", got)
	}
}

// TestSampleBoundsAStuckDatabase points the sampler's pool at a PostgreSQL that accepts the
// connection and never answers (a real socket): the reading is marked failed within about
// queryTimeout rather than holding the sampler, and the run with it, forever.
func TestSampleBoundsAStuckDatabase(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	pool, err := pgxpool.New(context.Background(), "postgres://bench@"+ln.Addr().String()+"/items?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	got := make(chan summary.Sample, 1)
	began := time.Now()
	go func() { got <- New("http://127.0.0.1:1", pool, "items-server", 0).Sample(context.Background(), 0) }()
	select {
	case sm := <-got:
		if !sm.DBQueryFailed || time.Since(began) > queryTimeout+time.Second {
			t.Errorf("after %s: %+v; want the query marked failed within about %s", time.Since(began), sm, queryTimeout)
		}
	case <-time.After(queryTimeout + 5*time.Second):
		t.Fatalf("the sample still waits for the database after %s", time.Since(began))
	}
}

// TestHistogramSumsSeries: the histogram's cumulative buckets with +Inf last, its series summed;
// a family that is missing or not a histogram is an error.
func TestHistogramSumsSeries(t *testing.T) {
	const body = `# TYPE go_sched_latencies_seconds histogram
go_sched_latencies_seconds_bucket{le="0.001"} 90
go_sched_latencies_seconds_bucket{le="0.01"} 99
go_sched_latencies_seconds_bucket{le="+Inf"} 100
go_sched_latencies_seconds_sum 0.2
go_sched_latencies_seconds_count 100
# TYPE go_goroutines gauge
go_goroutines 7
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) }))
	defer srv.Close()
	s := New(srv.URL, nil, "", 0)
	bounds, counts, err := s.Histogram(context.Background(), "go_sched_latencies_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if len(bounds) != 3 || bounds[0] != 0.001 || !math.IsInf(bounds[2], 1) || len(counts) != 3 || counts[0] != 90 || counts[1] != 99 || counts[2] != 100 {
		t.Errorf("Histogram = %v %v; want [0.001 0.01 +Inf] [90 99 100]", bounds, counts)
	}
	for _, name := range []string{"go_goroutines", "absent"} {
		if _, _, err := s.Histogram(context.Background(), name); err == nil {
			t.Errorf("Histogram(%s): no error", name)
		}
	}
}
