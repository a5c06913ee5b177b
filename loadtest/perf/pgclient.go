package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/benchharness/benchharness/loadtest/cli"
)

// execModes are pgx's ways of sending a query with parameters (pgx.QueryExecMode).
var execModes = map[string]pgx.QueryExecMode{
	"cache_statement": pgx.QueryExecModeCacheStatement, // pgx's default: prepare once, then Bind/Execute
	"cache_describe":  pgx.QueryExecModeCacheDescribe,
	"describe_exec":   pgx.QueryExecModeDescribeExec, // a Describe round trip before every Execute
	"exec":            pgx.QueryExecModeExec,
	"simple":          pgx.QueryExecModeSimpleProtocol,
}

// pgclientReport is the JSON line `perf pgclient` prints.
type pgclientReport struct {
	Mode        string  `json:"mode"`
	Conns       int     `json:"conns"`
	Queries     int64   `json:"queries"`
	Rate        float64 `json:"rate"`
	PGCPUPerQry float64 `json:"pg_cpu_us_per_query"` // -1 when the postmaster's PID is unknown
}

// pgclientCommand runs the server's page query through a pgx pool from -c goroutines for
// -duration, as pgbench runs it but with pgx's protocol, and prints the rate and PostgreSQL's
// CPU per query. P1b's probe (scripts/perf-p1b.sh) compares it with pgbench: same query, same
// connections, no HTTP.
func pgclientCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pgclient", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "cache_statement", "pgx query exec mode: cache_statement, cache_describe, describe_exec, exec or simple")
	conns := fs.Int("c", 8, "connections, one goroutine each")
	d := fs.Duration("duration", 5*time.Second, "measured duration (after 1 s of warm-up)")
	if err := cli.Parse(fs, args); err != nil {
		return usageErrorf("pgclient: %v", err)
	}
	em, ok := execModes[*mode]
	if !ok || *conns < 1 || *d <= 0 {
		return usageErrorf("pgclient: want a known -mode, -c ≥ 1 and -duration > 0")
	}
	cfg, err := pgxpool.ParseConfig(getenv("DATABASE_URL"))
	if err != nil {
		return usageErrorf("pgclient: DATABASE_URL: %v", err)
	}
	cfg.MaxConns, cfg.MinConns = int32(*conns), int32(*conns)
	cfg.ConnConfig.DefaultQueryExecMode = em
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("pgclient: connect: %w", err)
	}
	defer pool.Close()
	if _, err := pageLoop(ctx, pool, *conns, time.Second); err != nil {
		return fmt.Errorf("pgclient: warm-up: %w", err)
	}
	pm := postmasterPID(ctx, pool)
	pg0, t0 := treeCPU(pm), time.Now()
	n, err := pageLoop(ctx, pool, *conns, *d)
	if err != nil {
		return fmt.Errorf("pgclient: %w", err)
	}
	rep := pgclientReport{Mode: *mode, Conns: *conns, Queries: n, Rate: float64(n) / time.Since(t0).Seconds(), PGCPUPerQry: -1}
	if pg := cpuDelta(pg0, treeCPU(pm)); pm > 0 && pg >= 0 && n > 0 {
		rep.PGCPUPerQry = 1e6 * pg / float64(n)
	}
	return json.NewEncoder(stdout).Encode(rep)
}

// pageLoop runs listSQL (20 rows) back to back from conns goroutines for d and counts the queries.
func pageLoop(ctx context.Context, pool *pgxpool.Pool, conns int, d time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		n    atomic.Int64
		wg   sync.WaitGroup
		once sync.Once
		ferr error
	)
	for range conns {
		wg.Go(func() {
			var (
				id         int64
				name, desc pgtype.DriverBytes
				created    time.Time
			)
			for ctx.Err() == nil {
				rows, _ := pool.Query(ctx, listSQL, 20, 0) // a Query error surfaces in rows.Err
				for rows.Next() {
					if err := rows.Scan(&id, &name, &desc, &created); err != nil {
						rows.Close()
						once.Do(func() { ferr = err })
						return
					}
				}
				if err := rows.Err(); err != nil {
					if ctx.Err() == nil {
						once.Do(func() { ferr = err })
					}
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return n.Load(), ferr
}
