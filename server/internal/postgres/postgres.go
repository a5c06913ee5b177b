// Package postgres stores items in PostgreSQL through a pgx pool: connection settings
// (cancellation that reaches the server, application_name, tracing), embedded migrations, the
// queries, and a Prometheus collector for the pool's statistics.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/benchharness/benchharness/server/internal/item"
)

// ApplicationName is set on every connection unless DATABASE_URL names one; the harness finds
// the server's queries in pg_stat_activity by it.
const ApplicationName = "items-server"

// Options tune Open. The zero value is valid.
type Options struct {
	// TracerProvider, when set, creates a span per query as a child of the request's span.
	TracerProvider trace.TracerProvider
	// PingTimeout bounds the start-up wait for a database that is coming up (default 30s).
	PingTimeout time.Duration
	// Logger receives the retry lines of the start-up ping (default: discarded).
	Logger *slog.Logger
	// MaxConns is the pool's size; 0 takes the URL's pool_max_conns, or DefaultMaxConns when
	// the URL has none.
	MaxConns int32
	// MinConns are opened in the background at start and kept (pgx re-opens them when they
	// close); 0 takes the URL's pool_min_conns, else none. A request that has to wait for a new
	// PostgreSQL backend waits ~25 ms on a quiet machine, over 100 ms on a busy one.
	MinConns int32
	// StatementTimeout is PostgreSQL's statement_timeout on every connection unless the URL
	// names one; 0: PostgreSQL's own (none). The server gives it the request deadline, so a
	// statement whose cancel request was lost still ends within the request's budget.
	StatementTimeout time.Duration
}

// DefaultMaxConns is the pool size when neither the settings nor the URL give one. pgx's own
// default is max(4, cores), which made a bench verdict depend on the machine it ran on.
const DefaultMaxConns = 8

// Open parses the pgx URL, configures the pool and waits (bounded) until the database answers.
func Open(ctx context.Context, url string, opts Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL with its password; name the setting, not its value.
		return nil, errors.New("parse DATABASE_URL: invalid pgx connection string")
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	if opts.MinConns > 0 {
		cfg.MinConns = opts.MinConns
	}
	if cfg.MinConns > cfg.MaxConns {
		return nil, fmt.Errorf("pool: %d connections kept open (DB_MIN_CONNS or pool_min_conns) exceed the pool's size %d", cfg.MinConns, cfg.MaxConns)
	}
	rp := cfg.ConnConfig.RuntimeParams
	if _, ok := rp["application_name"]; !ok {
		rp["application_name"] = ApplicationName
	}
	// Last line of defence: when the cancel handler gives up and closes the socket, PostgreSQL
	// notices within checkInterval instead of at the query's end (cancel.go).
	if _, ok := rp["client_connection_check_interval"]; !ok {
		rp["client_connection_check_interval"] = strconv.Itoa(int(checkInterval / time.Millisecond))
	}
	// The page query's LIMIT and OFFSET are parameters, so PostgreSQL's plan cache keeps
	// choosing a custom plan and plans it again on every execution (pg_stat_statements: plans =
	// calls, planning longer than executing). The generic plan is the same primary-key index scan
	// (docs/perf.md, P1b), and the insert has nothing to choose: plan once per connection.
	if _, ok := rp["plan_cache_mode"]; !ok {
		rp["plan_cache_mode"] = "force_generic_plan"
	}
	if _, ok := rp["statement_timeout"]; !ok && opts.StatementTimeout > 0 {
		rp["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	}
	// pgx's default context watcher only sets a deadline on the socket: the connection dies and
	// the query (a pg_sleep, a slow scan) runs on inside PostgreSQL. Cancel it there (cancel.go).
	cfg.ConnConfig.BuildContextWatcherHandler = newCancelHandler
	if opts.TracerProvider != nil {
		// Lean on purpose (issue 6 measures tracing cost): no query parameters, no connection
		// details, no span per pool acquire.
		cfg.ConnConfig.Tracer = otelpgx.NewTracer(
			otelpgx.WithTracerProvider(opts.TracerProvider),
			otelpgx.WithDisableConnectionDetailsInAttributes(),
			otelpgx.WithDisableAcquireTracer(),
			otelpgx.WithTrimSQLInSpanName(),
		)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	if err := pingRetry(ctx, pool, opts); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func pingRetry(ctx context.Context, pool *pgxpool.Pool, opts Options) error {
	timeout := opts.PingTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := pool.Ping(ctx)
		if err == nil {
			return nil
		}
		if opts.Logger != nil {
			opts.Logger.Info("database not ready", "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ping database (%d attempts in %s): %w", attempt, timeout, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Store runs the item queries on a pool.
type Store struct {
	pool           *pgxpool.Pool
	dropWrites     bool
	acquireTimeout time.Duration
}

// StoreOptions tune NewStore.
type StoreOptions struct {
	// DropWrites is the drop-writes fault: Create answers with the item as stored but rolls the
	// insert back (docs/contracts.md). Never on by default.
	DropWrites bool
	// AcquireTimeout bounds the wait for a free pool connection (default DefaultAcquireTimeout);
	// past it the query fails with ErrBusy.
	AcquireTimeout time.Duration
}

// DefaultAcquireTimeout is the pool wait when StoreOptions.AcquireTimeout is zero: far above a
// healthy pool's wait, and short enough that a pool held by slow requests sheds the others
// quickly rather than queueing them until their clients give up.
const DefaultAcquireTimeout = time.Second

// ErrBusy means no pool connection became free within the acquire timeout (every connection is
// held by other requests). The HTTP layer answers 503 with Retry-After.
var ErrBusy = errors.New("database busy: no pool connection free")

// NewStore returns a Store on pool; the caller keeps ownership of the pool.
func NewStore(pool *pgxpool.Pool, opts StoreOptions) *Store {
	s := &Store{pool: pool, dropWrites: opts.DropWrites, acquireTimeout: opts.AcquireTimeout}
	if s.acquireTimeout <= 0 {
		s.acquireTimeout = DefaultAcquireTimeout
	}
	return s
}

// acquire takes a pool connection, waiting at most the acquire timeout (and never past ctx).
func (s *Store) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	actx, cancel := context.WithTimeoutCause(ctx, s.acquireTimeout, ErrBusy)
	defer cancel()
	conn, err := s.pool.Acquire(actx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(context.Cause(actx), ErrBusy) {
			return nil, fmt.Errorf("acquire (waited %s): %w", s.acquireTimeout, ErrBusy)
		}
		return nil, fmt.Errorf("acquire: %w", withCtx(ctx, err))
	}
	return conn, nil
}

const listSQL = `SELECT id, name, description, created_at FROM items ORDER BY id LIMIT $1 OFFSET $2`

// List returns one page of items ordered by id. A positive delay makes PostgreSQL sleep first,
// on the same connection and context, so that the request is held inside the database.
func (s *Store) List(ctx context.Context, p item.Page, delay time.Duration) ([]item.Item, error) {
	conn, err := s.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("list items page %d: %w", p.Number, err)
	}
	defer conn.Release()
	if delay > 0 {
		if err := sleep(ctx, conn.Conn(), delay); err != nil {
			return nil, fmt.Errorf("list items page %d: %w", p.Number, withCtx(ctx, err))
		}
	}
	rows, err := conn.Query(ctx, listSQL, p.Size, p.Offset())
	if err != nil {
		return nil, fmt.Errorf("list items page %d: %w", p.Number, withCtx(ctx, err))
	}
	defer rows.Close()
	items, err := scanPage(rows, p.Size)
	if err != nil {
		return nil, fmt.Errorf("list items page %d: %w", p.Number, withCtx(ctx, err))
	}
	return items, nil
}

// scanPage reads up to size items with a constant number of allocations, not a few per row
// (the list route's allocations per request were dominated by them): the scan destinations
// are built once, and the names and descriptions of the whole page share one string.
// pgtype.DriverBytes borrows a value from pgx's read buffer (valid until the next row); it is
// copied into one builder, whose String() does not copy again, and each item's strings are
// slices of it. Scanning by position, not pgx.RowToStructByName: no reflection on the hot path.
func scanPage(rows pgx.Rows, size int) ([]item.Item, error) {
	items := make([]item.Item, 0, size)
	var (
		it         item.Item
		name, desc pgtype.DriverBytes
		text       strings.Builder
		ends       []int // end offsets in text of each item's name and description
	)
	dst := []any{&it.ID, &name, &desc, &it.CreatedAt}
	ends = make([]int, 0, 2*size)
	text.Grow(size * 64) // a guess; the builder grows when the rows are longer
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		text.Write(name)
		ends = append(ends, text.Len())
		text.Write(desc)
		ends = append(ends, text.Len())
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	all, start := text.String(), 0
	for i := range items {
		items[i].Name = all[start:ends[2*i]]
		items[i].Description = all[ends[2*i]:ends[2*i+1]]
		start = ends[2*i+1]
	}
	return items, nil
}

const insertSQL = `INSERT INTO items (name, description) VALUES ($1, $2) RETURNING id, name, description, created_at`

// Create validates and stores n and returns the stored item. A positive delay sleeps in
// PostgreSQL first, inside the same transaction.
func (s *Store) Create(ctx context.Context, n item.New, delay time.Duration) (item.Item, error) {
	if err := n.Validate(); err != nil {
		return item.Item{}, err
	}
	conn, err := s.acquire(ctx)
	if err != nil {
		return item.Item{}, fmt.Errorf("create item: %w", err)
	}
	defer conn.Release() // after the transaction has ended: commit or rollback below
	tx, err := conn.Begin(ctx)
	if err != nil {
		return item.Item{}, fmt.Errorf("create item: begin: %w", withCtx(ctx, err))
	}
	it, err := insert(ctx, tx, n, delay)
	if err == nil && s.dropWrites {
		err = errDropped
	}
	if err != nil {
		rollback(ctx, tx)
		if errors.Is(err, errDropped) {
			return it, nil
		}
		return item.Item{}, fmt.Errorf("create item: %w", withCtx(ctx, err))
	}
	if err := tx.Commit(ctx); err != nil {
		return item.Item{}, fmt.Errorf("create item: commit: %w", withCtx(ctx, err))
	}
	return it, nil
}

func insert(ctx context.Context, tx pgx.Tx, n item.New, delay time.Duration) (item.Item, error) {
	if delay > 0 {
		if err := sleep(ctx, tx.Conn(), delay); err != nil {
			return item.Item{}, err
		}
	}
	var it item.Item
	err := tx.QueryRow(ctx, insertSQL, n.Name, n.Description).Scan(&it.ID, &it.Name, &it.Description, &it.CreatedAt)
	return it, err
}

// rollbackTimeout bounds the ROLLBACK of a failed transaction: a healthy server answers in well
// under a millisecond, and a connection that needs longer is better closed than waited for.
const rollbackTimeout = time.Second

// rollback ends a failed transaction on a context that is not cancelled. pgx rolls back on the
// context it is given, and a ROLLBACK on the request's context, cancelled when the client went
// away, fails at once; pgx then closes the connection (its state is unknown) and the pool must
// dial a new one. A client that gives up on a POST would cost a connection each time.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	_ = tx.Rollback(ctx) // on failure pgx closes the connection, which is all that is left to do
}

// errDropped makes Create roll back the insert under the drop-writes fault.
var errDropped = errors.New("drop-writes fault: insert rolled back")

// queryCanceled is SQLSTATE 57014, PostgreSQL's answer to a cancel request and to
// statement_timeout alike.
const queryCanceled = "57014"

// withCtx makes a query error that a cancelled context caused match context.Canceled (or
// DeadlineExceeded): with cancel requests PostgreSQL answers 57014, which says nothing of why.
// A 57014 on a live context is PostgreSQL's statement_timeout, the same budget's end: it
// matches DeadlineExceeded too.
func withCtx(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if !errors.Is(err, cerr) {
			return fmt.Errorf("%w: %w", cerr, err)
		}
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == queryCanceled {
		return fmt.Errorf("statement_timeout: %w: %w", context.DeadlineExceeded, err)
	}
	return err
}

func sleep(ctx context.Context, conn *pgx.Conn, d time.Duration) error {
	if _, err := conn.Exec(ctx, "SELECT pg_sleep($1)", d.Seconds()); err != nil {
		return fmt.Errorf("bench delay %s: %w", d, err)
	}
	return nil
}
