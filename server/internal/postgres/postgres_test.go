package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/benchharness/benchharness/server/internal/dbtest"
	"github.com/benchharness/benchharness/server/internal/item"
	"github.com/benchharness/benchharness/server/internal/postgres"
)

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	// The template is migrated already: these runs must all be no-ops, concurrent ones included.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() { errs <- postgres.Migrate(ctx, pool) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("schema_migrations has %d rows, want 1", n)
	}
}

func TestMigrateFreshDatabaseConcurrently(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "DROP TABLE items; DROP TABLE schema_migrations"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() { errs <- postgres.Migrate(ctx, pool) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate on an empty database: %v", err)
		}
	}
	if _, err := pool.Exec(ctx, "SELECT id FROM items LIMIT 1"); err != nil {
		t.Fatalf("items table missing after Migrate: %v", err)
	}
}

func TestStoreListAndCreate(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	dbtest.Seed(t, pool, 45)
	s := postgres.NewStore(pool, postgres.StoreOptions{})
	tests := []struct {
		page, size int
		wantFirst  int64
		wantLen    int
	}{
		{1, 20, 1, 20},
		{2, 20, 21, 20},
		{3, 20, 41, 5},
		{4, 20, 0, 0},
		{1, 100, 1, 45},
		{45, 1, 45, 1},
	}
	for _, tt := range tests {
		p, err := item.NewPage(tt.page, tt.size)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.List(ctx, p, 0)
		if err != nil {
			t.Fatalf("List(%+v): %v", p, err)
		}
		if len(got) != tt.wantLen {
			t.Fatalf("List(%+v) returned %d items, want %d", p, len(got), tt.wantLen)
		}
		for i, it := range got {
			if it.ID != tt.wantFirst+int64(i) {
				t.Fatalf("List(%+v)[%d].ID = %d, want %d (ordered by id)", p, i, it.ID, tt.wantFirst+int64(i))
			}
		}
	}
	name := "'); DROP TABLE items;--"
	it, err := s.Create(ctx, item.New{Name: name, Description: "ü"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if it.ID != 46 || it.Name != name || it.Description != "ü" || it.CreatedAt.IsZero() {
		t.Fatalf("Create returned %+v", it)
	}
	if _, err := s.Create(ctx, item.New{Name: strings.Repeat("x", 201)}, 0); !errors.Is(err, item.ErrInvalid) {
		t.Fatalf("Create with a 201-character name: %v, want ErrInvalid", err)
	}
}

// TestListReturnsStoredText covers List sharing one string among a page's names and descriptions:
// every item must still read back exactly as Create stored it, whatever the lengths.
func TestListReturnsStoredText(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	s := postgres.NewStore(pool, postgres.StoreOptions{})
	news := []item.New{
		{Name: "a", Description: ""},
		{Name: "ü" + strings.Repeat("名", 199), Description: strings.Repeat("é😀", 1000)}, // longer than the builder's guess
		{Name: "b", Description: "short"},
		{Name: `"quoted" \ <tag>`, Description: "line\nbreak"},
		{Name: "z", Description: strings.Repeat("d", 100)},
	}
	var want []item.Item
	for _, n := range news {
		it, err := s.Create(ctx, n, 0)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, it)
	}
	for _, size := range []int{1, 2, 5, 20} {
		var got []item.Item
		for number := 1; len(got) < len(want); number++ {
			p, err := item.NewPage(number, size)
			if err != nil {
				t.Fatal(err)
			}
			page, err := s.List(ctx, p, 0)
			if err != nil {
				t.Fatalf("List(%+v): %v", p, err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
		}
		if len(got) != len(want) {
			t.Fatalf("per_page %d: listed %d items, want %d", size, len(got), len(want))
		}
		for i := range want {
			if got[i].ID != want[i].ID || got[i].Name != want[i].Name || got[i].Description != want[i].Description ||
				!got[i].CreatedAt.Equal(want[i].CreatedAt) {
				t.Fatalf("per_page %d: item %d = %+.40v, want %+.40v", size, i, got[i], want[i])
			}
		}
	}
}

// TestSessionSettings checks that the server's connections name themselves, bound how long
// PostgreSQL runs a query for a client that has gone, and plan the page query once per connection
// (with LIMIT/OFFSET as parameters PostgreSQL re-plans it on every execution otherwise:
// docs/perf.md, P1b); a setting named in DATABASE_URL wins.
func TestSessionSettings(t *testing.T) {
	url := dbtest.NewURL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	tests := []struct {
		name, url string
		opts      postgres.Options
		want      map[string]string
	}{
		{"defaults", url, postgres.Options{}, map[string]string{
			"application_name": postgres.ApplicationName, "client_connection_check_interval": "250ms",
			"plan_cache_mode": "force_generic_plan", "statement_timeout": "0"}},
		{"statement timeout", url, postgres.Options{StatementTimeout: 8 * time.Second}, map[string]string{
			"statement_timeout": "8s"}},
		{"URL wins", url + sep + "plan_cache_mode=auto&application_name=mine&statement_timeout=250",
			postgres.Options{StatementTimeout: 8 * time.Second}, map[string]string{
				"application_name": "mine", "plan_cache_mode": "auto", "statement_timeout": "250ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := postgres.Open(context.Background(), tt.url, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			for name, want := range tt.want {
				var got string
				if err := pool.QueryRow(context.Background(), "SELECT current_setting($1)", name).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestDropWritesFault(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := context.Background()
	s := postgres.NewStore(pool, postgres.StoreOptions{DropWrites: true})
	it, err := s.Create(ctx, item.New{Name: "lost"}, 0)
	if err != nil || it.ID == 0 {
		t.Fatalf("Create under drop-writes = %+v, %v; want an id and no error", it, err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("drop-writes stored %d rows, want 0", n)
	}
}

// TestCancelReachesPostgres checks that cancelling the context of a delayed query removes it from
// pg_stat_activity (pgx's default watcher would leave pg_sleep running) and keeps the connection
// usable.
func TestCancelReachesPostgres(t *testing.T) {
	pool := dbtest.NewPool(t)
	s := postgres.NewStore(pool, postgres.StoreOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.List(ctx, item.Page{Number: 1, Size: 1}, 20*time.Second)
		done <- err
	}()
	waitActive(t, pool, 1)
	conns := pool.Stat().TotalConns()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("List after cancel: %v, want context.Canceled", err)
	}
	waitActive(t, pool, 0)
	if _, err := s.List(context.Background(), item.Page{Number: 1, Size: 1}, 0); err != nil {
		t.Fatalf("List after a cancelled one: %v", err)
	}
	// A cancel request leaves the connection healthy; pgx's default (a socket deadline) would
	// have killed it, and PostgreSQL would only notice through client_connection_check_interval.
	if got := pool.Stat().TotalConns(); got != conns {
		t.Fatalf("pool has %d connections, had %d before the cancel: the connection was killed, not cancelled", got, conns)
	}
}

// TestStatementTimeout checks that a statement that outlives the statement_timeout (the request
// deadline, given to PostgreSQL) is ended by PostgreSQL even when no context deadline or cancel
// is there to end it, and the error says it was a deadline (the HTTP layer's 503), not a failure
// (500).
func TestStatementTimeout(t *testing.T) {
	pool, err := postgres.Open(context.Background(), dbtest.NewURL(t), postgres.Options{StatementTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := postgres.NewStore(pool, postgres.StoreOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // only so a failure ends
	defer cancel()
	start := time.Now()
	_, err = s.List(ctx, item.Page{Number: 1, Size: 1}, 5*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("List sleeping 5 s under a 300 ms statement_timeout: %v after %s; want DeadlineExceeded from PostgreSQL", err, time.Since(start))
	}
	_, err = s.Create(ctx, item.New{Name: "slow"}, 5*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("Create sleeping 5 s under a 300 ms statement_timeout: %v; want DeadlineExceeded from PostgreSQL", err)
	}
}

// TestAcquireTimeout checks that, with every pool connection held, a query waits no longer than
// the acquire timeout and fails with ErrBusy; a context that ends first wins.
func TestAcquireTimeout(t *testing.T) {
	pool, err := postgres.Open(context.Background(), dbtest.NewURL(t), postgres.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	held, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	s := postgres.NewStore(pool, postgres.StoreOptions{AcquireTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // only so a failure ends
	defer cancel()
	if _, err := s.List(ctx, item.Page{Number: 1, Size: 1}, 0); !errors.Is(err, postgres.ErrBusy) {
		t.Fatalf("List with the pool held: %v, want ErrBusy", err)
	}
	if _, err := s.Create(ctx, item.New{Name: "waits"}, 0); !errors.Is(err, postgres.ErrBusy) {
		t.Fatalf("Create with the pool held: %v, want ErrBusy", err)
	}
	gone, cancelGone := context.WithCancel(context.Background())
	cancelGone()
	if _, err := s.List(gone, item.Page{Number: 1, Size: 1}, 0); !errors.Is(err, context.Canceled) || errors.Is(err, postgres.ErrBusy) {
		t.Fatalf("List on a cancelled context: %v, want context.Canceled (the client went away, not busy)", err)
	}
}

// waitActive polls pg_stat_activity until exactly want pg_sleep queries of this database run.
func waitActive(t *testing.T, pool *pgxpool.Pool, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1 AND state = 'active'
			AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()`, postgres.ApplicationName).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pg_sleep queries active, want %d", n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPoolCollector(t *testing.T) {
	pool := dbtest.NewPool(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(postgres.NewPoolCollector(pool))
	before := pool.Stat().AcquireCount()
	for range 3 {
		if err := pool.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			got[mf.GetName()] = c.GetValue()
		} else {
			got[mf.GetName()] = m.GetGauge().GetValue()
		}
	}
	if got["pgxpool_acquire_count_total"] != float64(before+3) {
		t.Errorf("pgxpool_acquire_count_total = %v, want %d", got["pgxpool_acquire_count_total"], before+3)
	}
	if got["pgxpool_max_conns"] != 8 {
		t.Errorf("pgxpool_max_conns = %v, want 8 (dbtest sets pool_max_conns=8)", got["pgxpool_max_conns"])
	}
	if len(mfs) != 10 {
		t.Errorf("collector exports %d metrics, want 10", len(mfs))
	}
}

// TestCancelledCreatesKeepTheirConnections covers a client that gives up on a POST: it cancels
// the request's context in the middle of the transaction. The rollback must still reach
// PostgreSQL, so the pool keeps the connection; rolled back on the cancelled context, pgx closed
// it and every cancelled POST cost the pool a new connection.
func TestCancelledCreatesKeepTheirConnections(t *testing.T) {
	pool := dbtest.NewPool(t)
	s := postgres.NewStore(pool, postgres.StoreOptions{})
	if _, err := s.Create(context.Background(), item.New{Name: "warm"}, 0); err != nil {
		t.Fatal(err)
	}
	before := pool.Stat().NewConnsCount()
	const storm = 20
	for i := range storm {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		_, err := s.Create(ctx, item.New{Name: "cancelled"}, 5*time.Second)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("create %d: %v, want context.DeadlineExceeded", i, err)
		}
	}
	if _, err := s.Create(context.Background(), item.New{Name: "after"}, 0); err != nil {
		t.Fatalf("create after the storm: %v", err)
	}
	// One or two may still be lost to a cancel that lands between statements; all 20 are not.
	if dialled := pool.Stat().NewConnsCount() - before; dialled > 2 {
		t.Fatalf("the pool dialled %d new connections for %d cancelled creates: the rollback killed them", dialled, storm)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM items WHERE name = 'cancelled'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d cancelled creates were persisted", n)
	}
}

func TestPoolSize(t *testing.T) {
	url := dbtest.NewURL(t)
	tests := []struct {
		name string
		url  string
		opts int32
		want int32
	}{
		{"default, not the core count", url, 0, postgres.DefaultMaxConns},
		{"the setting", url, 3, 3},
		{"the URL", withParam(url, "pool_max_conns=5"), 0, 5},
		{"the setting over the URL", withParam(url, "pool_max_conns=5"), 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := postgres.Open(context.Background(), tt.url, postgres.Options{MaxConns: tt.opts})
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if got := pool.Config().MaxConns; got != tt.want {
				t.Fatalf("MaxConns = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestPoolOpensMinConnsAtStart checks that DB_MIN_CONNS connections are opened at start, before
// any request asks for one, so that no request waits for a new PostgreSQL backend (~25 ms); more
// than the pool holds is refused with a message naming both.
func TestPoolOpensMinConnsAtStart(t *testing.T) {
	url := dbtest.NewURL(t)
	tests := []struct {
		name     string
		url      string
		min, max int32
		want     int32 // connections open without a request; -1: Open fails
	}{
		{"none by default", url, 0, 4, 0},
		{"the setting", url, 4, 4, 4},
		{"the URL", withParam(url, "pool_min_conns=2"), 0, 4, 2},
		{"the setting over the URL", withParam(url, "pool_min_conns=2"), 3, 4, 3},
		{"more than the pool", url, 5, 4, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := postgres.Open(context.Background(), tt.url, postgres.Options{MaxConns: tt.max, MinConns: tt.min})
			if tt.want < 0 {
				if err == nil || !strings.Contains(err.Error(), "exceed the pool's size") {
					pool.Close()
					t.Fatalf("Open: %v, want the pool's size exceeded", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			// The connections open in the background: wait for them, bounded. Open's ping may
			// have opened one more while they were being made.
			deadline := time.Now().Add(10 * time.Second)
			for pool.Stat().TotalConns() < tt.want && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := pool.Stat().TotalConns(); got < tt.want || got > min(tt.want+1, tt.max) {
				t.Fatalf("%d connections open without a request, want %d (or one more, the ping's)", got, tt.want)
			}
		})
	}
}

func withParam(url, kv string) string {
	if strings.Contains(url, "?") {
		return url + "&" + kv
	}
	return url + "?" + kv
}
