package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/benchharness/benchharness/loadtest/internal/promexport"
	"github.com/benchharness/benchharness/loadtest/internal/redact"
	"github.com/benchharness/benchharness/loadtest/internal/scenario"
	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
)

// What a run shares across its scenarios: the harness's own database pool, its metrics listener
// and the Prometheus file_sd list naming the current server.

// openDB connects the harness's own pool (nil without a URL).
func openDB(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	if databaseURL == "" {
		return nil, nil
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, usageErrorf("run: -database-url: %v", redact.String(err.Error()))
	}
	// The harness's own connections: named so the sampler's pg_stat_activity filter on the
	// server's name never counts them, and few (the sampler and the shutdown check).
	cfg.ConnConfig.RuntimeParams["application_name"] = scenario.HarnessApplication
	cfg.MaxConns = 4
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, usageErrorf("run: connect to the database: %v", redact.String(err.Error()))
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = db.Ping(pingCtx)
	cancel()
	if err != nil {
		db.Close()
		return nil, usageErrorf("run: connect to the database: %v", redact.String(err.Error()))
	}
	return db, nil
}

// serveMetrics serves the harness's metrics on addr (off when empty) until stop is called.
func serveMetrics(ctx context.Context, addr string) (m *promexport.Metrics, stop func(), err error) {
	if addr == "" {
		return nil, func() {}, nil
	}
	m = promexport.New()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, usageErrorf("run: -metrics-addr: %v", err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	return m, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
		<-done
	}, nil
}

// sdFile writes the Prometheus file_sd list naming the current server (docs/contracts.md);
// empty path: off.
type sdFile string

func (p sdFile) write(admin, name string) {
	if p == "" {
		return
	}
	list := []map[string]any{}
	if admin != "" {
		u, err := url.Parse(admin)
		if err == nil {
			list = append(list, map[string]any{"targets": []string{u.Host}, "labels": map[string]string{"scenario": name}})
		}
	}
	b, _ := json.Marshal(list)
	tmp := string(p) + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return
	}
	_ = os.Rename(tmp, string(p))
}

// sdStopper clears the file_sd list when its server stops.
type sdStopper struct {
	*serverctl.Local
	sd sdFile
}

func (s sdStopper) Stop(grace time.Duration) error {
	err := s.Local.Stop(grace)
	s.sd.write("", "")
	return err
}
