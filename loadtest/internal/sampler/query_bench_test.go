package sampler

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkActivityQuery prices one reading of pg_stat_activity as the sampler takes it every
// tick, against the alternatives for naming the wait events, with 20 server sessions of which
// 2 wait on a lock (docs/design/harness-evidence.md has the figures):
//
//	flock /tmp/heavy.lock scripts/with-postgres.sh go test ./loadtest/internal/sampler -run '^$' -bench ActivityQuery -benchtime 3000x -count 3
func BenchmarkActivityQuery(b *testing.B) {
	dsn := testDSN(b)
	ctx := context.Background()
	const app = "items-server-bench"
	harness, holder := connectAs(b, dsn, "loadtest"), connectAs(b, dsn, "holder")
	for range 18 {
		connectAs(b, dsn, app)
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock(4343)"); err != nil {
		b.Fatal(err)
	}
	for range 2 {
		c := connectAs(b, dsn, app)
		go func() { _, _ = c.Exec(ctx, "SELECT pg_advisory_lock(4343)") }()
	}
	time.Sleep(200 * time.Millisecond) // the waiters start asynchronously
	b.Cleanup(func() { _, _ = holder.Exec(context.Background(), "SELECT pg_advisory_unlock_all()") })

	byGroup := pgActivityQueryWithout + `,
       (SELECT json_object_agg(e, n) FROM (
          SELECT wait_event_type || ':' || wait_event AS e, count(*) AS n FROM pg_stat_activity
          WHERE application_name = $1 AND pid <> pg_backend_pid() AND state = 'active' AND wait_event IS NOT NULL
          GROUP BY 1) w)` + pgActivityFrom
	for _, q := range []struct{ name, sql string }{
		{"counts only (before)", pgActivityQueryWithout + pgActivityFrom},
		{"array_agg (chosen)", pgActivityQuery},
		{"json_object_agg of a GROUP BY", byGroup},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				rows, err := harness.Query(ctx, q.sql, app)
				if err != nil {
					b.Fatal(err)
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					b.Fatal(fmt.Errorf("%s: %w", q.name, err))
				}
			}
		})
	}
}

// The query before the wait events, in two parts the alternatives extend.
const (
	pgActivityQueryWithout = `
SELECT count(*) FILTER (WHERE state = 'active'),
       count(*) FILTER (WHERE state = 'active' AND query ILIKE '%pg_sleep%'),
       count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock'),
       count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'IO'),
       count(*)`
	pgActivityFrom = `
FROM pg_stat_activity
WHERE application_name = $1 AND pid <> pg_backend_pid()`
)
