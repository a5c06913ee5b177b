package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

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

// unsampledParent is the traceparent every P1/P2 request carries: an upstream caller that
// decided not to sample (flags 00). It is what makes "the default sampler" a definite thing: the
// server's default, parentbased_always_on, follows it and records nothing, while always_on
// ignores it and records every request. Carrying it on all three variants keeps the load the same.
const unsampledParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"

// variant is one server configuration of P1/P2.
type variant struct {
	id  string   // off, traced, default, alt; bare for the calibration handler
	bin string   // server binary; empty: -server
	env []string // OTEL_* settings
	srv *serverctl.Local
	api string // base URL
	pid int

	// cpuPerReq is the server process's CPU time per request served in each measured round
	// (µs): unlike throughput, it hardly moves when other work shares the machine.
	cpuPerReq []float64
}

// measureServer is P1 and P2: the server under wrk against pgbench on the same SELECT, and the
// server with tracing off, 100 % sampled and exported, and with the default sampler, in
// interleaved rounds. It then profiles the traced and untraced servers under the same load.
func (r *runner) measureServer(ctx context.Context) error {
	c := r.cfg
	dbURL, err := withPoolSize(r.dbURL, c.pool)
	if err != nil {
		return err
	}
	secret, err := serverctl.NewSecret()
	if err != nil {
		return err
	}
	variants := []*variant{{id: "off", env: []string{"OTEL_TRACES_EXPORTER=none"}}}
	r.res.Settings.Samplers = map[string]string{
		"off": "OTEL_TRACES_EXPORTER=none (no span processor; parentbased_always_on follows the unsampled parent: nothing recorded)",
	}
	var jg *jaeger
	if c.only["P2"] {
		j, err := startJaeger(ctx, c.jaeger, c.out)
		if err != nil {
			return fmt.Errorf("start jaeger: %w", err)
		}
		defer j.stop()
		jg = j
		defer func() {
			// The check that P2's spans were exported at all: a 100 % figure with nothing
			// arriving would measure a broken exporter.
			s, err := j.services(context.WithoutCancel(ctx))
			switch {
			case err != nil:
				r.note("P2a", "Could not ask Jaeger which services it holds: %v.", err)
			case strings.Contains(s, "items-server"):
				r.note("P2a", "Jaeger received the server's spans (items-server listed by its query API).")
			default:
				r.note("P2a", "WARNING: Jaeger holds no items-server traces (%s): export did not happen.", strings.TrimSpace(s))
				r.res.Errors = append(r.res.Errors, "P2: Jaeger received no spans from the traced servers")
			}
		}()
		otlp := []string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + j.otlpHTTP}
		variants = append(variants,
			&variant{id: "traced", env: append([]string{"OTEL_TRACES_SAMPLER=always_on"}, otlp...)},
			&variant{id: "default", env: otlp})
		if c.altServer != "" || len(c.altEnv) > 0 {
			// An A/B of a proposed change inside the same rounds: the traced variant again,
			// on another binary and/or with more settings.
			variants = append(variants, &variant{id: "alt", bin: c.altServer,
				env: append(append([]string{"OTEL_TRACES_SAMPLER=always_on"}, otlp...), c.altEnv...)})
			r.res.Settings.Samplers["alt"] = fmt.Sprintf("as traced, on binary %q with extra settings %q", c.altServer, c.altEnv)
		}
		r.res.Settings.Samplers["traced"] = "OTEL_TRACES_SAMPLER=always_on, OTLP/HTTP to the local Jaeger: every request recorded and exported"
		r.res.Settings.Samplers["default"] = "OTEL_TRACES_SAMPLER unset = the server's default parentbased_always_on, OTLP/HTTP to the local Jaeger, " +
			"requests carrying an unsampled W3C traceparent (flags 00, as from an upstream that did not sample): nothing recorded or exported, context still propagated. " +
			"Without a traceparent the same sampler records every request, which is exactly the 'traced' variant."
	}
	for _, v := range variants {
		bin := v.bin
		if bin == "" {
			bin = c.serverBin
		}
		srv, err := serverctl.Start(ctx, serverctl.Config{
			Bin: bin, DatabaseURL: dbURL, JWTSecret: secret,
			Env: append([]string{"LOG_LEVEL=warn"}, v.env...),
		})
		if err != nil {
			return fmt.Errorf("start %s server: %w", v.id, err)
		}
		v.srv, v.api, v.pid = srv, srv.API(), srv.PID()
		defer srv.Stop(10 * time.Second)
	}
	bare := &variant{id: "bare"}
	{
		ch, err := startChild("bare", []string{"DATABASE_URL=" + dbURL}, r.self, "bare", "-addr", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ch.stop()
		addr, err := firstLine(ctx, ch, 20*time.Second)
		if err != nil {
			return err
		}
		bare.api, bare.pid = "http://"+addr, ch.cmd.Process.Pid
	}
	measured := append([]*variant{bare}, variants...)
	if err := r.seed(ctx, c.items); err != nil {
		return err
	}
	token, err := variants[0].srv.Token(ctx, "perf")
	if err != nil {
		return err
	}
	headers := []string{"Authorization: Bearer " + token, "traceparent: " + unsampledParent}
	for _, v := range measured {
		if err := checkItems(ctx, v.api+itemsPath, headers); err != nil {
			return fmt.Errorf("%s server: %w", v.id, err)
		}
	}
	script := filepath.Join(c.out, "p1.pgbench.sql")
	if err := os.WriteFile(script, []byte(pgbenchScript), 0o644); err != nil {
		return fmt.Errorf("write pgbench script: %w", err)
	}
	// CPU budget per request of each side (µs): the client tool, the service, PostgreSQL.
	// On two shared cores the ratio of throughputs can be no better than the inverse ratio of
	// these sums, which is what tells a fixable gap from the architecture's.
	postmaster := r.postmasterPID(ctx)
	budget := map[string]*cpuBudget{}
	account := func(id string, requests int, client, service, pg float64) {
		if requests <= 0 {
			return
		}
		b := budget[id]
		if b == nil {
			b = &cpuBudget{}
			budget[id] = b
		}
		n := float64(requests) / 1e6
		b.client = append(b.client, client/n)
		if service >= 0 {
			b.service = append(b.service, service/n)
		}
		if pg >= 0 {
			b.pg = append(b.pg, pg/n)
		}
	}
	pgbench := func(d time.Duration) (float64, error) {
		pg0 := treeCPU(postmaster)
		out, cpu, err := runToolCPU(ctx, c.pgbench, "-n", "-M", "prepared", "-c", strconv.Itoa(c.conns), "-j", "2",
			"-T", strconv.Itoa(int(d/time.Second)), "-f", script, r.dbURL)
		if err != nil {
			return 0, err
		}
		pg1 := treeCPU(postmaster)
		tps, failed, err := parsePgbench(out)
		if err == nil && failed > 0 {
			err = fmt.Errorf("pgbench: %d failed transactions", failed)
		}
		if err == nil && d == c.round && pg0 >= 0 && pg1 >= pg0 {
			account("pgbench", int(tps*d.Seconds()), cpu, -1, pg1-pg0)
		}
		return tps, err
	}
	wrk := func(v *variant, d time.Duration) (float64, error) {
		args := []string{c.wrk, "-t2", "-c" + strconv.Itoa(c.conns), "-d" + strconv.Itoa(int(d/time.Second)) + "s"}
		for _, h := range headers {
			args = append(args, "-H", h)
		}
		cpu0, pg0 := cpuSeconds(v.pid), treeCPU(postmaster)
		out, wrkCPU, err := runToolCPU(ctx, append(args, v.api+itemsPath)...)
		if err != nil {
			return 0, err
		}
		cpu1, pg1 := cpuSeconds(v.pid), treeCPU(postmaster)
		res, err := parseWrk(out)
		if err == nil && d == c.round && cpu0 >= 0 && cpu1 >= cpu0 && res.Requests > 0 {
			v.cpuPerReq = append(v.cpuPerReq, 1e6*(cpu1-cpu0)/float64(res.Requests))
			pg := -1.0
			if pg0 >= 0 && pg1 >= pg0 {
				pg = pg1 - pg0
			}
			account(v.id, res.Requests, wrkCPU, cpu1-cpu0, pg)
		}
		if err == nil && res.Non2xx+res.Errors > res.Requests/100 {
			err = fmt.Errorf("wrk on %s server: %d non-2xx and %d socket errors of %d requests", v.id, res.Non2xx, res.Errors, res.Requests)
		}
		return res.GoodRate(), err
	}

	r.logf("P1/P2: %d items, pool_max_conns=%d, warm-up %s each", c.items, c.pool, c.warmup)
	if _, err := pgbench(c.warmup); err != nil {
		return fmt.Errorf("pgbench warm-up: %w", err)
	}
	for _, v := range measured {
		if _, err := wrk(v, c.warmup); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	r.checkQueryText(ctx)

	// One round measures pgbench and every variant once; the order rotates round by round so
	// that none always runs first (right after a quiet gap) or last.
	type step struct {
		name string
		run  func() (float64, error)
	}
	steps := []step{{"pgbench", func() (float64, error) { return pgbench(c.round) }}}
	for _, v := range measured {
		steps = append(steps, step{v.id, func() (float64, error) { return wrk(v, c.round) }})
	}
	var overBare, altOverTraced []float64
	var jaegerCPU0, spans0, tracedReqs0 float64
	var traced *variant
	for _, v := range variants {
		if v.id == "traced" {
			traced = v
		}
	}
	if jg != nil && traced != nil {
		jaegerCPU0 = cpuSeconds(jg.cmd.Process.Pid)
		spans0, _ = jg.acceptedSpans(ctx)
		tracedReqs0, _ = requestCount(ctx, traced.srv.Admin())
	}
	for i := 0; i < c.rounds && ctx.Err() == nil; i++ {
		got := map[string]float64{}
		for j := range steps {
			s := steps[(i+j)%len(steps)]
			v, err := s.run()
			if err != nil {
				r.res.Errors = append(r.res.Errors, fmt.Sprintf("P1/P2 round %d %s: %v", i+1, s.name, err))
				continue
			}
			got[s.name] = v
		}
		line := fmt.Sprintf("pgbench %.0f tps", got["pgbench"])
		for _, v := range measured {
			line += fmt.Sprintf(", %s %.0f/s", v.id, got[v.id])
		}
		r.logf("P1/P2 round %d: %s", i+1, line)
		r.fig("P1").Add(Sample{A: got["off"], B: got["pgbench"], Value: ratio(got["off"], got["pgbench"])})
		r.fig("P1ref").Add(Sample{A: got["bare"], B: got["pgbench"], Value: ratio(got["bare"], got["pgbench"])})
		if v := ratio(got["off"], got["bare"]); !math.IsNaN(v) {
			overBare = append(overBare, v)
		}
		if v := ratio(got["alt"], got["traced"]); !math.IsNaN(v) {
			altOverTraced = append(altOverTraced, v)
			r.logf("P2 round %d: alt / traced %.3f, alt / off %.3f", i+1, v, ratio(got["alt"], got["off"]))
		}
		if c.only["P2"] {
			r.fig("P2a").Add(Sample{A: got["traced"], B: got["off"], Value: ratio(got["traced"], got["off"])})
			r.fig("P2b").Add(Sample{A: got["default"], B: got["off"], Value: ratio(got["default"], got["off"])})
		}
	}
	r.note("P1", "pool_max_conns=%d (see docs/perf.md); wrk and pgbench both %d connections, 2 threads.", c.pool, c.conns)
	if jg != nil && traced != nil {
		// Honesty check for P2a: a batch processor whose queue overflows drops spans, which
		// would make 100 % sampling look cheaper than it is.
		time.Sleep(6 * time.Second) // one OTEL_BSP_SCHEDULE_DELAY (5 s default): the last batch lands
		spans1, err1 := jg.acceptedSpans(ctx)
		reqs1, err2 := requestCount(ctx, traced.srv.Admin())
		if err := errors.Join(err1, err2); err != nil {
			r.note("P2a", "Could not count the spans Jaeger accepted: %v.", err)
		} else if n := reqs1 - tracedReqs0; n > 0 {
			r.note("P2a", "Jaeger accepted %.2f spans per traced request (%.0f spans, %.0f requests; 2 expected: the HTTP span and the query span). Fewer means spans were dropped and the figure flatters tracing.",
				(spans1-spans0)/n, spans1-spans0, n)
		}
		if used := cpuSeconds(jg.cmd.Process.Pid) - jaegerCPU0; used >= 0 {
			traced := float64(len(r.fig("P2a").Samples)) * c.round.Seconds()
			r.res.Findings = append(r.res.Findings, fmt.Sprintf(
				"Jaeger runs on the same 2 cores: it used %.1f CPU-seconds during the rounds, %.0f %% of one core over the %.0f s of traced load "+
					"(the default and off variants export nothing). Part of P2a's cost is therefore the collector's, not the server's.",
				used, 100*used/traced, traced))
		}
	}
	cpu := map[string]*variant{}
	var cpuLine []string
	for _, v := range measured {
		cpu[v.id] = v
		if len(v.cpuPerReq) > 0 {
			cpuLine = append(cpuLine, fmt.Sprintf("%s %.0f", v.id, median(v.cpuPerReq)))
		}
	}
	cpuRatio := func(a, b string) string {
		if cpu[a] == nil || cpu[b] == nil || len(cpu[a].cpuPerReq) == 0 || len(cpu[b].cpuPerReq) == 0 {
			return "–"
		}
		return trim(median(cpu[a].cpuPerReq) / median(cpu[b].cpuPerReq))
	}
	if len(cpuLine) > 0 {
		r.res.Findings = append(r.res.Findings, fmt.Sprintf(
			"Server CPU per request (µs, median over the rounds; steadier than throughput on a shared machine): %s. "+
				"CPU ratios: off/bare %s×, traced/off %s×, default/off %s×, alt/traced %s×.",
			strings.Join(cpuLine, ", "), cpuRatio("off", "bare"), cpuRatio("traced", "off"), cpuRatio("default", "off"), cpuRatio("alt", "traced")))
	}
	if b := budget["pgbench"]; b != nil && budget["off"] != nil && budget["bare"] != nil && len(b.pg) > 0 && len(budget["off"].pg) > 0 {
		r.res.Findings = append(r.res.Findings, "CPU budget per request (µs, medians; client tool + service + PostgreSQL = total): "+
			b.String("pgbench", false)+"; "+budget["bare"].String("bare handler", true)+"; "+budget["off"].String("server", true)+
			fmt.Sprintf(". When the two cores are the limit, throughput ratios follow the inverse totals: server/pgbench ≤ %s, bare/pgbench ≤ %s.",
				trim(b.total()/budget["off"].total()), trim(b.total()/budget["bare"].total())))
	}
	if len(altOverTraced) > 0 {
		r.res.Findings = append(r.res.Findings, fmt.Sprintf("A/B in the same rounds: alt (%s) / traced = median %s× (%s – %s, %d rounds).",
			r.res.Settings.Samplers["alt"], trim(median(altOverTraced)), trim(slices.Min(altOverTraced)), trim(slices.Max(altOverTraced)), len(altOverTraced)))
	}
	if len(overBare) > 0 {
		r.note("P1", "Server / bare chi+pgx handler (the cost of auth, metrics, otelhttp, otelpgx with nothing sampled): median %s× (%s – %s).",
			trim(median(overBare)), trim(slices.Min(overBare)), trim(slices.Max(overBare)))
	}
	if c.only["P2"] && ctx.Err() == nil {
		r.profileTracing(ctx, variants, wrk)
	}
	return nil
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
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", itemsPath, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
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
		r.note("P1", "Could not read the server's query from pg_stat_activity (%v).", err)
	case strings.TrimSpace(q) == listSQL:
		r.note("P1", "The server's query (from pg_stat_activity) is the one pgbench runs: %q with $1=20, $2=0.", listSQL)
	default:
		r.note("P1", "WARNING: the server ran %q, pgbench runs %q.", q, listSQL)
		r.res.Errors = append(r.res.Errors, "P1: pgbench's SELECT differs from the server's")
	}
}

// cpuBudget holds, per measured round, the CPU µs per request of the client tool, the service
// (none for pgbench) and PostgreSQL (postmaster and backends).
type cpuBudget struct{ client, service, pg []float64 }

func (b *cpuBudget) total() float64 {
	t := median(b.client) + median(b.pg)
	if len(b.service) > 0 {
		t += median(b.service)
	}
	return t
}

func (b *cpuBudget) String(name string, service bool) string {
	if service {
		return fmt.Sprintf("%s %.0f + %.0f + %.0f = %.0f", name, median(b.client), median(b.service), median(b.pg), b.total())
	}
	return fmt.Sprintf("%s %.0f + – + %.0f = %.0f", name, median(b.client), median(b.pg), b.total())
}

// postmasterPID reads the PostgreSQL server's PID from its data directory (needs a superuser
// connection, which scripts/with-postgres.sh gives); 0 when it cannot, and the CPU budget
// then leaves PostgreSQL out.
func (r *runner) postmasterPID(ctx context.Context) int {
	var dir string
	if err := r.db.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
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
