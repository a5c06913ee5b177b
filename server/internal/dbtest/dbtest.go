// Package dbtest gives tests a fresh, migrated PostgreSQL database each: it clones a template
// database that is migrated once (per migration set) on the server named by TEST_DATABASE_URL.
// Without TEST_DATABASE_URL the test is skipped, or fails when CI=true so that CI cannot pass
// by skipping.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/benchharness/benchharness/server/internal/postgres"
)

// templateName carries the migrations' hash so that a changed migration set gets a fresh
// template on a long-lived TEST_DATABASE_URL.
var templateName = "items_test_template_" + postgres.MigrationsVersion()

// BaseURL returns TEST_DATABASE_URL, skipping the test when it is unset (failing under CI=true).
func BaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_DATABASE_URL is not set and CI=true: run the tests through scripts/with-postgres.sh")
		}
		t.Skip("TEST_DATABASE_URL not set; run through scripts/with-postgres.sh")
	}
	return u
}

// NewURL creates a fresh migrated database for the test, dropped when it ends, and returns its
// URL (with pool_max_conns kept small: many test databases share one server).
func NewURL(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("dbtest: connect to TEST_DATABASE_URL: %v", err)
	}
	defer admin.Close(ctx)
	if err := ensureTemplate(ctx, admin, base); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	name := "items_test_" + randomHex(6)
	// Cloning fails while another session is connected to the template (a parallel package's
	// clone or migration): retry for a while.
	for attempt := 0; ; attempt++ {
		_, err = admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, templateName))
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" || attempt > 100 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dbtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("dbtest: connect to drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(t, base, name)
}

// NewPool returns a pool on a fresh database, opened like the server opens it (cancel requests,
// application_name), closed when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), NewURL(t), postgres.Options{})
	if err != nil {
		t.Fatalf("dbtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Seed inserts n items named "item-1".."item-n" in one statement.
func Seed(t testing.TB, pool *pgxpool.Pool, n int) {
	t.Helper()
	_, err := pool.Exec(context.Background(),
		`INSERT INTO items (name, description) SELECT 'item-' || g, 'seeded item ' || g FROM generate_series(1, $1) g`, n)
	if err != nil {
		t.Fatalf("dbtest: seed %d items: %v", n, err)
	}
}

func ensureTemplate(ctx context.Context, admin *pgx.Conn, base string) error {
	// A session lock serialises template creation between test binaries that start together.
	const lockKey = 0x6974656d7374
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(lockKey)); err != nil {
		return fmt.Errorf("lock template: %w", err)
	}
	defer admin.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", int64(lockKey)) //nolint:errcheck // released with the session anyway
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", templateName).Scan(&exists); err != nil {
		return fmt.Errorf("look up template: %w", err)
	}
	if exists {
		return nil
	}
	building := templateName + "_building"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop stale template: %w", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	conn, err := pgxpool.New(ctx, withDatabaseURL(base, building))
	if err != nil {
		return fmt.Errorf("connect to template: %w", err)
	}
	err = postgres.Migrate(ctx, conn)
	conn.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	// Renamed only once complete, so a crash half-way never leaves a broken template behind.
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+templateName); err != nil {
		return fmt.Errorf("rename template: %w", err)
	}
	return nil
}

func withDatabase(t testing.TB, base, name string) string {
	t.Helper()
	u := withDatabaseURL(base, name)
	if u == "" {
		t.Fatalf("dbtest: TEST_DATABASE_URL is not a postgres:// URL")
	}
	return u
}

func withDatabaseURL(base, name string) string {
	u, err := url.Parse(base)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		return ""
	}
	u.Path = "/" + name
	q := u.Query()
	if q.Get("pool_max_conns") == "" {
		q.Set("pool_max_conns", "8")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
