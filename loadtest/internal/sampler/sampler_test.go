package sampler

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
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
# TYPE http_server_requests_accepted_total counter
http_server_requests_accepted_total 42
# TYPE http_server_requests_cancelled_total counter
http_server_requests_cancelled_total{route="/api/v1/items"} 4
http_server_requests_cancelled_total{route="/api/v1/item"} 2
# TYPE pgxpool_acquired_conns gauge
pgxpool_acquired_conns 2
# TYPE pgxpool_idle_conns gauge
pgxpool_idle_conns 5
# TYPE pgxpool_total_conns gauge
pgxpool_total_conns 7
# TYPE go_gc_heap_live_bytes gauge
go_gc_heap_live_bytes 1.5e+06
# TYPE http_server_open_connections gauge
http_server_open_connections 4
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 3.2e+07
# TYPE process_open_fds gauge
process_open_fds 21
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
		PoolIdle: 5, PoolTotal: 7, Cancelled: 6, Accepted: 42, ServerState: "draining",
		HeapLiveBytes: 1.5e6, OpenConns: 4, RSSBytes: 3.2e7, OpenFDs: 21}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Sample = %+v\nwant     %+v", got, want)
	}
}

// TestSampleReadsALocalProcess: with a pid, resident memory and descriptors come from /proc (this
// test's own process), not from the metrics, which a process collector may not have.
func TestSampleReadsALocalProcess(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(exposition))
	}))
	defer srv.Close()
	sig := summary.Signals{MetricsURL: srv.URL + "/metrics", Goroutines: FromMetrics}
	got := NewFor(sig, nil, "", os.Getpid(), 0).Sample(context.Background(), 0)
	if got.RSSBytes == 3.2e7 || got.RSSBytes < 1<<20 || got.OpenFDs == 21 || got.OpenFDs < 3 {
		t.Fatalf("RSS %.0f, fds %.0f: want this process's, not the exposition's", got.RSSBytes, got.OpenFDs)
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
	dsn := testDSN(t)
	ctx := context.Background()
	connect := func(app string) *pgx.Conn { return connectAs(t, dsn, app) }
	// other is another items server on the same PostgreSQL (default name): its sleeping query
	// must not count as this server's.
	const app = "items-server-0123456789ab"
	server, other, harness := connect(app), connect("items-server"), connect("loadtest")

	s := New("http://127.0.0.1:1", harness, app, 0)
	before := s.Sample(ctx, 0)
	if before.DBQueryFailed || before.DBActive != 0 || before.DBSleeping != 0 || before.DBSessions != 1 {
		t.Fatalf("idle database: %+v, want 0 active of 1 session (the server's)", before)
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

	// A lock wait: the other session holds an advisory lock the server's session waits for.
	if _, err := other.Exec(ctx, "SELECT pg_advisory_lock(4242)"); err != nil {
		t.Fatal(err)
	}
	go func() { _, err := server.Exec(ctx, "SELECT pg_advisory_lock(4242)"); done <- err }()
	for range 50 {
		if during = s.Sample(ctx, 0); during.DBLockWaits > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if during.DBLockWaits != 1 || during.DBIOWaits != 0 {
		t.Errorf("waiting on a lock: lock=%v io=%v, want 1 and 0", during.DBLockWaits, during.DBIOWaits)
	}
	if _, err := other.Exec(ctx, "SELECT pg_advisory_unlock(4242)"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// schedExposition is the diagnosis's runtime metrics with n observations in the 1–2 ms bucket
// of the scheduler latency (the rest under 1 µs).
func schedExposition(n int) string {
	return fmt.Sprintf(`# TYPE go_sched_latencies_seconds histogram
go_sched_latencies_seconds_bucket{le="1e-06"} 1000
go_sched_latencies_seconds_bucket{le="0.001"} 1000
go_sched_latencies_seconds_bucket{le="0.002"} %d
go_sched_latencies_seconds_bucket{le="+Inf"} %d
go_sched_latencies_seconds_sum 0
go_sched_latencies_seconds_count %d
# TYPE go_sched_goroutines_runnable_goroutines gauge
go_sched_goroutines_runnable_goroutines 3
# TYPE go_sync_mutex_wait_total_seconds_total counter
go_sync_mutex_wait_total_seconds_total 1.5
# TYPE go_cpu_classes_gc_total_cpu_seconds_total counter
go_cpu_classes_gc_total_cpu_seconds_total 0.25
# TYPE pgxpool_acquire_duration_seconds_total counter
pgxpool_acquire_duration_seconds_total 4
`, 1000+n, 1000+n, 1000+n)
}

// TestSampleReadsRuntimeMetrics: the scheduler's p99 is of the observations since the previous
// scrape, not of the process's life (whose 1000 quick ones would hide the slow ones).
func TestSampleReadsRuntimeMetrics(t *testing.T) {
	var scrapes int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scrapes++
		_, _ = w.Write([]byte(schedExposition(100 * (scrapes - 1)))) // 0, then 100 slow ones
	}))
	defer srv.Close()
	s := New(srv.URL, nil, "", 0)
	first := s.Sample(context.Background(), 0)
	if first.SchedP99Ms != 0 || first.Runnable != 3 || first.MutexWaitTotal != 1.5 || first.GCCPUTotal != 0.25 || first.PoolWaitTotal != 4 {
		t.Fatalf("first sample %+v: want no sched p99 yet, runnable 3, mutex 1.5 s, GC 0.25 s, pool wait 4 s", first)
	}
	if second := s.Sample(context.Background(), 0); second.SchedP99Ms != 2 {
		t.Fatalf("second sample's sched p99 = %v ms, want 2 (the bucket of the 100 new observations)", second.SchedP99Ms)
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
	if !reflect.DeepEqual(got, want) {
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

// testDSN is TEST_DATABASE_URL; the test is skipped without it (failed on CI).
func testDSN(t testing.TB) string {
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_DATABASE_URL is not set (CI=true)")
		}
		t.Skip("TEST_DATABASE_URL is not set")
	}
	return dsn
}

// connectAs opens a connection named app, closed when the test ends.
func connectAs(t testing.TB, dsn, app string) *pgx.Conn {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = app
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestSampleNamesWaitEvents: a server session blocked on a row another transaction updated
// is named by its wait event (Lock:transactionid), the holder (another application, idle in
// its transaction) is not counted, and a sample with no waiter names nothing.
func TestSampleNamesWaitEvents(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	const app = "items-server-waits"
	holder, server, harness := connectAs(t, dsn, "holder"), connectAs(t, dsn, app), connectAs(t, dsn, "loadtest")
	table := fmt.Sprintf("sampler_waits_%d", time.Now().UnixNano())
	if _, err := harness.Exec(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY, n int); INSERT INTO "+table+" VALUES (1, 0)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = harness.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	s := New("http://127.0.0.1:1", harness, app, 0)
	if idle := s.Sample(ctx, 0); idle.DBQueryFailed || idle.DBWaits != nil {
		t.Fatalf("idle server session: %+v, want no wait events", idle)
	}

	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "UPDATE "+table+" SET n = n + 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := server.Exec(ctx, "UPDATE "+table+" SET n = n + 1 WHERE id = 1"); done <- err }()
	var during summary.Sample
	for range 50 { // the update starts asynchronously; look until it waits (≤ 1 s)
		if during = s.Sample(ctx, 0); during.DBLockWaits > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := map[string]int{"Lock:transactionid": 1}
	if !reflect.DeepEqual(during.DBWaits, want) {
		t.Errorf("a server session blocked on a row lock: db_waits %v, want %v (sample %+v)", during.DBWaits, want, during)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
