package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
)

// itemsPath is the request P1 and P2 measure: one page of 20 rows.
const itemsPath = "/api/v1/items?page=1&per_page=20"

// listSQL is the server's page query (server/internal/postgres: listSQL), which pgbench runs
// with the same parameters; measureServer checks it against what the server really sent.
const listSQL = `SELECT id, name, description, created_at FROM items ORDER BY id LIMIT $1 OFFSET $2`

// pgbenchScript is listSQL with page 1 of 20 rows, as pgbench variables so that -M prepared
// sends it as one prepared statement with parameters, as pgx does.
const pgbenchScript = `\set lim 20
\set off 0
SELECT id, name, description, created_at FROM items ORDER BY id LIMIT :lim OFFSET :off;
`

// planCacheMode is how the server's connections plan the page query (server/internal/postgres:
// once per connection, not per execution). The bare handler and pgbench run the query the same
// way, so that P1 and P1b compare the HTTP side, not two ways of planning.
const planCacheMode = "force_generic_plan"

// unsampledParent is the traceparent every P1/P2 request carries: an upstream caller that
// decided not to sample (flags 00). It is what makes "the default sampler" a definite thing: the
// server's default, parentbased_always_on, follows it and records nothing, while always_on
// ignores it and records every request. Carrying it on all three variants keeps the load the same.
const unsampledParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"

// variant is one service P1/P2 loads: a server configuration, or the bare handler.
type variant struct {
	id  string   // off, traced, default, alt; bare for the calibration handler
	bin string   // server binary; empty: -server
	env []string // OTEL_* settings
	srv *serverctl.Local
	api string // base URL
	pid int
}

// serverSet is what P1 and P2 run against: the server variants, the bare handler, the optional
// Jaeger, and the request and pgbench script they are loaded with.
type serverSet struct {
	variants   []*variant // off first, then traced, default and alt when P2 is measured
	bare       *variant
	jaeger     *jaeger // nil without P2
	headers    []string
	script     string // pgbench script
	postmaster int    // PostgreSQL's PID for its CPU time, 0 when unknown
	stops      []func()
}

// measured lists every service the rounds load: the bare handler, then the server variants.
func (s *serverSet) measured() []*variant { return append([]*variant{s.bare}, s.variants...) }

func (s *serverSet) variant(id string) *variant {
	for _, v := range s.measured() {
		if v.id == id {
			return v
		}
	}
	return nil
}

// stop stops what was started, last first.
func (s *serverSet) stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
}

// measureServer is P1 and P2: the server under wrk against the bare handler and pgbench on the
// same SELECT, and the server with tracing off, 100 % sampled and exported, and with the default
// sampler, in interleaved rounds. It then profiles the traced and untraced servers under the
// same load.
func (r *runner) measureServer(ctx context.Context) error {
	set, err := r.startServers(ctx)
	defer set.stop()
	if err != nil {
		return err
	}
	load := &serverLoad{r: r, ctx: ctx, set: set, data: newServerData()}
	load.data.alt = r.res.Settings.Samplers["alt"]
	r.logf("P1/P2: %d items, pool_max_conns=%d, warm-up %s each", r.cfg.items, r.cfg.pool, r.cfg.warmup)
	if err := load.warmUp(); err != nil {
		return err
	}
	r.checkQueryText(ctx)
	load.rounds()
	if set.jaeger != nil {
		load.countSpans()
	}
	r.note(serverVsBare, "pool_max_conns=%d (see docs/design/perf-evidence.md); wrk and pgbench both %d connections, 2 threads.", r.cfg.pool, r.cfg.conns)
	for _, n := range load.data.p2aNotes() {
		r.note(tracingCost, "%s", n)
	}
	r.res.Findings = append(r.res.Findings, load.data.findings()...)
	if r.cfg.only[partTracing] && ctx.Err() == nil {
		r.profileTracing(ctx, set.variants, load.wrk)
	}
	if set.jaeger != nil {
		r.checkJaegerServices(ctx, set.jaeger)
	}
	return nil
}

// startServers starts the server variants, the bare handler and (for P2) Jaeger on one
// database, seeds it, and checks that every service answers the measured request with 20 rows.
// The set it returns is never nil: stop it even on error.
func (r *runner) startServers(ctx context.Context) (*serverSet, error) {
	c := r.cfg
	set := &serverSet{postmaster: postmasterPID(ctx, r.db)}
	dbURL, err := withPoolSize(r.dbURL, c.pool)
	if err != nil {
		return set, err
	}
	secret, err := serverctl.NewSecret()
	if err != nil {
		return set, err
	}
	set.variants = []*variant{{id: "off", env: []string{"OTEL_TRACES_EXPORTER=none"}}}
	r.res.Settings.Samplers = map[string]string{
		"off": "OTEL_TRACES_EXPORTER=none (no span processor; parentbased_always_on follows the unsampled parent: nothing recorded)",
	}
	if c.only[partTracing] {
		j, err := startJaeger(ctx, c.jaeger, c.out)
		if err != nil {
			return set, fmt.Errorf("start jaeger: %w", err)
		}
		set.jaeger = j
		set.stops = append(set.stops, func() { _ = j.Stop(childGrace) })
		set.variants = append(set.variants, r.tracedVariants(j)...)
	}
	for _, v := range set.variants {
		bin := v.bin
		if bin == "" {
			bin = c.serverBin
		}
		srv, err := serverctl.Start(ctx, serverctl.Config{
			Bin: bin, DatabaseURL: dbURL, JWTSecret: secret,
			Env: append([]string{"LOG_LEVEL=warn"}, v.env...),
		})
		if err != nil {
			return set, fmt.Errorf("start %s server: %w", v.id, err)
		}
		set.stops = append(set.stops, func() { _ = srv.Stop(10 * time.Second) })
		v.srv, v.api, v.pid = srv, srv.API(), srv.PID()
	}
	if set.bare, err = r.startBare(ctx, dbURL, set); err != nil {
		return set, err
	}
	if err := r.seed(ctx, c.items); err != nil {
		return set, err
	}
	token, err := set.variants[0].srv.Token(ctx, "perf")
	if err != nil {
		return set, err
	}
	set.headers = []string{"Authorization: Bearer " + token, "traceparent: " + unsampledParent}
	for _, v := range set.measured() {
		if err := checkItems(ctx, v.api+itemsPath, set.headers); err != nil {
			return set, fmt.Errorf("%s server: %w", v.id, err)
		}
	}
	set.script = filepath.Join(c.out, "p1.pgbench.sql")
	if err := os.WriteFile(set.script, []byte(pgbenchScript), 0o644); err != nil {
		return set, fmt.Errorf("write pgbench script: %w", err)
	}
	return set, nil
}

// tracedVariants are P2's servers that export to j: 100 % sampled, the default sampler, and
// the optional A/B alternative; their settings are recorded in Settings.Samplers.
func (r *runner) tracedVariants(j *jaeger) []*variant {
	c := r.cfg
	otlp := []string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + j.otlpHTTP}
	vs := []*variant{
		{id: "traced", env: append([]string{"OTEL_TRACES_SAMPLER=always_on"}, otlp...)},
		{id: "default", env: otlp},
	}
	s := r.res.Settings.Samplers
	s["traced"] = "OTEL_TRACES_SAMPLER=always_on, OTLP/HTTP to the local Jaeger: every request recorded and exported"
	s["default"] = "OTEL_TRACES_SAMPLER unset = the server's default parentbased_always_on, OTLP/HTTP to the local Jaeger, " +
		"requests carrying an unsampled W3C traceparent (flags 00, as from an upstream that did not sample): nothing recorded or exported, context still propagated. " +
		"Without a traceparent the same sampler records every request, which is exactly the 'traced' variant."
	if c.altServer != "" || len(c.altEnv) > 0 {
		// An A/B of a proposed change inside the same rounds: the traced variant again, on
		// another binary and/or with more settings.
		vs = append(vs, &variant{id: "alt", bin: c.altServer,
			env: append(append([]string{"OTEL_TRACES_SAMPLER=always_on"}, otlp...), c.altEnv...)})
		s["alt"] = fmt.Sprintf("as traced, on binary %q with extra settings %q", c.altServer, c.altEnv)
	}
	return vs
}

// startBare starts `perf bare` on the same database and pool size as the servers.
func (r *runner) startBare(ctx context.Context, dbURL string, set *serverSet) (*variant, error) {
	env := []string{"DATABASE_URL=" + dbURL + "&plan_cache_mode=" + planCacheMode}
	l, err := serverctl.StartService(ctx, serverctl.ServiceConfig{
		Args: []string{r.self, "bare", "-addr", "127.0.0.1:{port}"}, Env: env, StartWait: 20 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("perf bare: %w", err)
	}
	set.stops = append(set.stops, func() { _ = l.Stop(childGrace) })
	return &variant{id: "bare", api: l.API(), pid: l.PID()}, nil
}

// checkJaegerServices checks that P2's spans were exported at all: a 100 % figure with nothing
// arriving would measure a broken exporter.
func (r *runner) checkJaegerServices(ctx context.Context, j *jaeger) {
	s, err := j.services(context.WithoutCancel(ctx))
	switch {
	case err != nil:
		r.note(tracingCost, "Could not ask Jaeger which services it holds: %v.", err)
	case strings.Contains(s, "items-server"):
		r.note(tracingCost, "Jaeger received the server's spans (items-server listed by its query API).")
	default:
		r.note(tracingCost, "WARNING: Jaeger holds no items-server traces (%s): export did not happen.", strings.TrimSpace(s))
		r.res.Errors = append(r.res.Errors, "P2: Jaeger received no spans from the traced servers")
	}
}

// withPoolSize sets pool_max_conns in a pgx URL (replacing one already there).
func withPoolSize(raw string, n int) (string, error) {
	base, query, _ := strings.Cut(raw, "?")
	var keep []string
	for _, kv := range strings.Split(query, "&") {
		if kv != "" && !strings.HasPrefix(kv, "pool_max_conns=") {
			keep = append(keep, kv)
		}
	}
	keep = append(keep, "pool_max_conns="+strconv.Itoa(n))
	if !strings.Contains(base, "://") {
		return "", usageErrorf("DATABASE_URL must be a postgres:// URL to carry pool_max_conns")
	}
	return base + "?" + strings.Join(keep, "&"), nil
}

// seed fills items up to n rows (the server's migrations created the table).
func (r *runner) seed(ctx context.Context, n int) error {
	var have int
	if err := r.db.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&have); err != nil {
		return fmt.Errorf("count items: %w", err)
	}
	if have >= n {
		return nil
	}
	// Descriptions of 100 characters: a page of 20 is then a few KB of JSON, like real rows.
	if _, err := r.db.Exec(ctx, `INSERT INTO items (name, description)
		SELECT 'item ' || g, repeat('d', 100) FROM generate_series(1, $1) g`, n-have); err != nil {
		return fmt.Errorf("seed %d items: %w", n-have, err)
	}
	if _, err := r.db.Exec(ctx, "VACUUM ANALYZE items"); err != nil {
		return fmt.Errorf("vacuum items: %w", err)
	}
	return nil
}

// checkItems makes sure the measured request succeeds with 20 rows: a misconfigured token
// would otherwise be measured as fast 401s.
func checkItems(ctx context.Context, url string, headers []string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: fetchTimeout}).Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", itemsPath, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20)) // a page of 20 items is a few kB
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %s", itemsPath, resp.StatusCode, tail(string(body), 1))
	}
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Items) != 20 {
		return fmt.Errorf("GET %s: want 20 items, got %d (%v)", itemsPath, len(page.Items), err)
	}
	return nil
}

// checkQueryText compares the server's last query (pg_stat_activity keeps it on idle
// connections) with the SELECT pgbench runs, and says in P1's notes whether they match.
func (r *runner) checkQueryText(ctx context.Context) {
	var q string
	err := r.db.QueryRow(ctx, `SELECT query FROM pg_stat_activity
		WHERE application_name LIKE 'items-server%' AND query LIKE 'SELECT id, name%' LIMIT 1`).Scan(&q)
	switch {
	case err != nil:
		r.note(serverVsBare, "Could not read the server's query from pg_stat_activity (%v).", err)
	case strings.TrimSpace(q) == listSQL:
		r.note(serverVsBare, "The server's query (from pg_stat_activity) is the one pgbench runs: %q with $1=20, $2=0.", listSQL)
	default:
		r.note(serverVsBare, "WARNING: the server ran %q, pgbench runs %q.", q, listSQL)
		r.res.Errors = append(r.res.Errors, "P1: pgbench's SELECT differs from the server's")
	}
}

// cpuBudget holds, per measured round, the CPU µs per request of the client tool, the service

// postmasterPID reads the PostgreSQL server's PID from its data directory (needs a superuser
// connection, which scripts/with-postgres.sh gives); 0 when it cannot, and the CPU budget
// then leaves PostgreSQL out.
func postmasterPID(ctx context.Context, db *pgxpool.Pool) int {
	var dir string
	if err := db.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0
	}
	return pid
}
