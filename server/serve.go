package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/benchharness/benchharness/server/internal/auth"
	"github.com/benchharness/benchharness/server/internal/httpapi"
	"github.com/benchharness/benchharness/server/internal/postgres"
	"github.com/benchharness/benchharness/server/internal/telemetry"
)

// errForcedShutdown: in-flight requests outlived SHUTDOWN_TIMEOUT and were cut off (exit 3).
var errForcedShutdown = errors.New("forced shutdown: requests still in flight after SHUTDOWN_TIMEOUT were closed")

// Bounds of the last shutdown phases, which have no setting: a flush to an absent collector or a
// pprof profile in progress on the admin port must not hold the exit for long.
const (
	flushTimeout      = 5 * time.Second
	adminCloseTimeout = 2 * time.Second
)

// serve runs the API until ctx ends or SIGINT/SIGTERM arrives, then shuts down in order:
// /readyz 503 → DRAIN_DELAY → Shutdown(SHUTDOWN_TIMEOUT), Close on timeout → pool → traces →
// admin listener last, so the drain can be watched on /metrics and /readyz.
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	version := buildVersion()
	warnFaults(log, cfg)
	runtime.SetBlockProfileRate(cfg.BlockProfileRate)
	runtime.SetMutexProfileFraction(cfg.MutexProfileFraction)

	// The signal only starts the shutdown; it never cancels in-flight requests (BaseContext unset).
	sigCtx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	tracing, err := newTracing(ctx, getenv, version)
	if err != nil {
		return err
	}
	flushTraces := sync.OnceValue(func() error {
		fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		return tracing.Shutdown(fctx)
	})
	defer flushTraces() //nolint:errcheck // the ordered path below reports it; this covers early returns

	verifier, err := auth.NewVerifier(cfg.JWTSecret, cfg.JWTIssuer)
	if err != nil {
		return &settingError{"JWT_SECRET", err.Error()}
	}

	pool, err := openDatabase(sigCtx, cfg, tracing, log)
	if err != nil {
		return err
	}
	closePool := sync.OnceFunc(pool.Close)
	defer closePool()

	reg := telemetry.NewRegistry(version)
	state := telemetry.NewState(reg)
	poolStats := postgres.NewPoolCollector(pool)
	reg.MustRegister(poolStats)
	metrics := httpapi.NewMetrics(reg)
	compact := telemetry.NewCompactRegistry(append(metrics.Sampled(), state.Collector(), poolStats)...)
	handler := apiHandler(cfg, pool, verifier, metrics, tracing, log)

	instance, err := newInstanceID()
	if err != nil {
		return err
	}
	apiLn, inherited, adminLn, err := listenAPI(sigCtx, cfg)
	if err != nil {
		return err
	}
	gate := newAcceptGate(apiLn)
	keep := &keepAlives{}
	api, admin, conns := newServers(cfg, log, keep.wrap(withInstance(instance, handler)), withInstance(instance, telemetry.AdminHandler(reg, compact, state, pool.Ping)))
	registerOpenConns(conns, reg, compact) // on the compact page too: a soak trends it

	g, gctx := errgroup.WithContext(context.Background())
	acceptStopped := make(chan struct{}) // closed when the API's accept loop has returned
	g.Go(func() error {
		defer close(acceptStopped)
		if err := api.Serve(gate); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve API: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := admin.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve admin: %w", err)
		}
		return nil
	})
	state.Set(telemetry.StateReady)
	log.Info("listening", "addr", apiLn.Addr().String(), "admin_addr", adminLn.Addr().String(),
		"version", version, "traces_exporter", tracing.Exporter, "bench_delay", cfg.BenchDelay,
		"instance", instance, "inherited_listener", inherited, "reuseport", cfg.ReusePort)

	var forced bool
	g.Go(func() error {
		select {
		case <-sigCtx.Done():
			log.Info("shutdown requested")
		case <-gctx.Done(): // a listener failed: same ordered shutdown
			log.Error("listener failed, shutting down")
		}
		forced = shutdown(log, cfg, state, keep, api, gate, acceptStopped, conns, admin, closePool, flushTraces)
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if forced {
		return errForcedShutdown
	}
	return nil
}

// newTracing sets up traces from the OTEL_* settings; a bad one is a setting error (exit 2).
func apiHandler(cfg config, pool *pgxpool.Pool, verifier *auth.Verifier, metrics *httpapi.Metrics,
	tracing *telemetry.Tracing, log *slog.Logger) http.Handler {
	return httpapi.NewHandler(httpapi.Config{
		Store:          postgres.NewStore(pool, postgres.StoreOptions{DropWrites: cfg.DropWrites, AcquireTimeout: cfg.AcquireTimeout}),
		Verifier:       verifier,
		Metrics:        metrics,
		TracerProvider: tracing.Provider,
		Propagator:     tracing.Propagator,
		Logger:         log,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		RequestTimeout: cfg.RequestTimeout,
		BenchDelay:     cfg.BenchDelay,
		ExtraLatency:   cfg.ExtraLatency,
		ExtraCPU:       cfg.ExtraCPU,
		Faults:         cfg.Faults,
	})
}

// registerOpenConns exports the API's open connections on each registry.
func registerOpenConns(conns *connTracker, regs ...*prometheus.Registry) {
	openConns := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "http_server_open_connections",
		Help: "API connections open now, idle keep-alive ones included.",
	}, conns.openConns)
	for _, r := range regs {
		r.MustRegister(openConns)
	}
}

func newTracing(ctx context.Context, getenv func(string) string, version string) (*telemetry.Tracing, error) {
	tracing, err := telemetry.NewTracing(ctx, getenv, version)
	var se *telemetry.SettingError
	if errors.As(err, &se) {
		return nil, &settingError{se.Name, fmt.Sprintf("%q: %s", se.Value, se.Reason)}
	}
	return tracing, err
}

// openDatabase opens the pool (traced when tracing is on) and migrates the schema; a signal
// during the wait for a database that is coming up ends it.
func openDatabase(ctx context.Context, cfg config, tracing *telemetry.Tracing, log *slog.Logger) (*pgxpool.Pool, error) {
	t0 := time.Now()
	if err := checkPostgresVersion(ctx, cfg.DatabaseURL, minPostgresMajor); err != nil {
		return nil, err
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{TracerProvider: tracing.Provider, Logger: log,
		MaxConns: cfg.DBMaxConns, MinConns: cfg.DBMinConns, StatementTimeout: cfg.RequestTimeout})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := postgres.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	log.Info("database ready", "duration", time.Since(t0).String())
	return pool, nil
}

// minPostgresMajor is the oldest PostgreSQL the pool works with: postgres.Open sets
// client_connection_check_interval, new in 14, on every connection.
const minPostgresMajor = 14

// checkPostgresVersion connects once and returns an error naming PostgreSQL's version when it is
// older than minMajor. An older server refuses each of the pool's connections over the unknown
// parameter, and postgres.Open would retry that until its ping gives up. A URL that does not
// parse or a database that does not answer yet is left to postgres.Open, which reports the one
// and waits (bounded) for the other.
func checkPostgresVersion(ctx context.Context, url string, minMajor int) error {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, pcfg.ConnConfig)
	if err != nil {
		return nil
	}
	defer conn.Close(ctx)
	v := conn.PgConn().ParameterStatus("server_version")
	major, _ := strconv.Atoi(v[:len(v)-len(strings.TrimLeft(v, "0123456789"))])
	if major < minMajor {
		return fmt.Errorf("PostgreSQL %s is too old: the server needs %d or newer (client_connection_check_interval)", v, minMajor)
	}
	return nil
}

// warnFaults logs a WARN line for every test-only fault that is on: a server that misbehaves
// on purpose must say so where its operator looks first.
func warnFaults(log *slog.Logger, cfg config) {
	for _, f := range cfg.FaultNames {
		log.Warn("fault enabled: the server misbehaves on purpose", "fault", f)
	}
	if cfg.ExtraLatency > 0 {
		log.Warn("fault enabled: extra latency on every API request", "fault", "BENCH_EXTRA_LATENCY", "latency", cfg.ExtraLatency.String())
	}
	if cfg.ExtraCPU > 0 {
		log.Warn("fault enabled: extra CPU work on every API request", "fault", "BENCH_EXTRA_CPU", "cpu", cfg.ExtraCPU.String())
	}
}

// listen opens the API and admin listeners (both or neither); inherited: the API one came
// from LISTEN_FDS (apiListener).
// listenAPI is listen with the stall-accept fault applied to the API listener when it is on.
func listenAPI(sigCtx context.Context, cfg config) (api net.Listener, inherited bool, admin net.Listener, err error) {
	api, inherited, admin, err = listen(cfg)
	if err != nil || !cfg.StallAccept {
		return api, inherited, admin, err
	}
	stalled, err := stallAccept(sigCtx, api)
	if err != nil {
		api.Close()
		admin.Close()
		return nil, false, nil, err
	}
	return stalled, inherited, admin, nil
}

func listen(cfg config) (api net.Listener, inherited bool, admin net.Listener, err error) {
	api, inherited, err = apiListener(cfg, os.Getpid())
	if err != nil {
		return nil, false, nil, err
	}
	admin, err = net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		api.Close()
		return nil, false, nil, fmt.Errorf("listen on ADMIN_ADDR: %w", err)
	}
	return api, inherited, admin, nil
}

// newServers builds the API server (the settings' timeouts, a connection tracker for the drain)
// and the admin server.
func newServers(cfg config, log *slog.Logger, handler, adminHandler http.Handler) (api, admin *http.Server, conns *connTracker) {
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	api = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errLog,
	}
	conns = newConnTracker()
	api.ConnState = conns.track
	admin = &http.Server{
		Handler:           adminHandler,
		ReadHeaderTimeout: 5 * time.Second,
		// No WriteTimeout: /debug/pprof/profile?seconds=30 writes after 30 s.
		IdleTimeout: 30 * time.Second,
		ErrorLog:    errLog,
	}
	return api, admin, conns
}

// shutdown runs the ordered shutdown and reports whether the API drain was forced.
// acceptStopped closes when api.Serve has returned: no connection is accepted after it.
func shutdown(log *slog.Logger, cfg config, state *telemetry.State, keep *keepAlives, api *http.Server, gate *acceptGate, acceptStopped <-chan struct{},
	conns *connTracker, admin *http.Server, closePool func(), flushTraces func() error) (forced bool) {
	begin := time.Now()
	state.Set(telemetry.StateDraining)
	// Clients stop reusing connections during DRAIN_DELAY: each response now says
	// "Connection: close", so fewer requests are sent on a connection about to be closed.
	keep.stop()
	log.Info("draining: /readyz now 503", "phase", "draining", "drain_delay", cfg.DrainDelay.String())
	if cfg.DrainDelay > 0 {
		// Lets load balancers see /readyz fail before the listener closes.
		time.Sleep(cfg.DrainDelay)
		log.Info("drain delay over", "phase", "drain_delay", "duration", cfg.DrainDelay.String())
	}

	t := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	// Shutdown drops a request it reads once it has begun: stop accepting first, and call it
	// only when every accepted connection's first request has been read (acceptGate).
	if err := gate.stop(); err != nil {
		log.Error("close API listener", "err", err)
	}
	select {
	case <-gate.stoppedAccepting():
	case <-ctx.Done():
	}
	select {
	case <-conns.requestsRead():
	case <-ctx.Done():
	}
	done := make(chan error, 1)
	go func() { done <- api.Shutdown(ctx) }()
	var err error
	// The drain is watched only once the accept loop has stopped: until then a connection can
	// still be accepted (a listener shared with a successor keeps taking them), and Close would
	// cut it before its first request was read.
	var drained <-chan struct{}
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-acceptStopped:
			acceptStopped, drained = nil, conns.drained()
		case <-drained:
			// The last request is done (keep-alives are off, so its connection closes with it):
			// close what remains now rather than at Shutdown's next poll, and wake Shutdown.
			_ = api.Close()
			cancel()
			<-done
			break wait
		}
	}
	cancel()
	if err != nil {
		forced = true
		log.Warn("API drain timed out, closing remaining connections", "phase", "api_shutdown",
			"duration", time.Since(t).String(), "shutdown_timeout", cfg.ShutdownTimeout.String())
		if err := api.Close(); err != nil {
			log.Error("close API server", "err", err)
		}
	}
	log.Info("API drained", "phase", "api_shutdown", "duration", time.Since(t).String(), "forced", forced)
	state.Set(telemetry.StateStopped)

	// After Close, handlers of cut-off requests may still be returning; pool.Close waits for
	// their connections to be released, so the pool really is closed after the last query.
	t = time.Now()
	closePool()
	log.Info("database pool closed", "phase", "pool_close", "duration", time.Since(t).String())

	t = time.Now()
	if err := flushTraces(); err != nil {
		log.Error("flush traces", "phase", "telemetry_flush", "err", err)
	}
	log.Info("telemetry flushed", "phase", "telemetry_flush", "duration", time.Since(t).String())

	t = time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), adminCloseTimeout)
	if err := admin.Shutdown(ctx); err != nil {
		_ = admin.Close()
	}
	cancel()
	log.Info("admin listener closed", "phase", "admin_shutdown", "duration", time.Since(t).String())
	log.Info("shutdown complete", "duration", time.Since(begin).String(), "forced", forced)
	return forced
}
