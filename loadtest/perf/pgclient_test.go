package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestPgclientCommand(t *testing.T) {
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		t.Skip("TEST_DATABASE_URL not set; run through scripts/with-postgres.sh")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The server's table, in a schema of this test's own so that it never meets the real one.
	for _, q := range []string{
		"CREATE SCHEMA IF NOT EXISTS perf_pgclient",
		"CREATE TABLE IF NOT EXISTS perf_pgclient.items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, description text NOT NULL DEFAULT '', created_at timestamptz NOT NULL DEFAULT now())",
		"INSERT INTO perf_pgclient.items (name) SELECT 'i' || g FROM generate_series(1, 30) g",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP SCHEMA perf_pgclient CASCADE") })
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return url + sep(url) + "search_path=perf_pgclient"
		}
		return ""
	}
	for _, mode := range []string{"cache_statement", "describe_exec"} {
		var out, errOut strings.Builder
		if err := run(ctx, []string{"perf", "pgclient", "-mode", mode, "-c", "2", "-duration", "300ms"}, getenv, &out, &errOut); err != nil {
			t.Fatalf("%s: %v (%s)", mode, err, errOut.String())
		}
		var rep pgclientReport
		if err := json.Unmarshal([]byte(out.String()), &rep); err != nil || rep.Queries == 0 || rep.Rate <= 0 || rep.Mode != mode {
			t.Fatalf("%s: report %q (%v): want queries counted", mode, out.String(), err)
		}
	}
	var out strings.Builder
	err = run(ctx, []string{"perf", "pgclient", "-mode", "fast"}, getenv, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "-mode") {
		t.Fatalf("unknown -mode: %v, want a usage error naming -mode", err)
	}
}

func sep(url string) string {
	if strings.Contains(url, "?") {
		return "&"
	}
	return "?"
}
