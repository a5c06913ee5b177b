// Package apitest builds the real items API (httpapi on a real PostgreSQL store, real JWT
// verification, real tracing) behind an httptest server, for handler tests and benchmarks.
// Nothing is faked: the database is a fresh clone from dbtest.
package apitest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/benchharness/benchharness/server/internal/auth"
	"github.com/benchharness/benchharness/server/internal/dbtest"
	"github.com/benchharness/benchharness/server/internal/httpapi"
	"github.com/benchharness/benchharness/server/internal/postgres"
)

// Secret is the JWT secret of every test API.
const Secret = "apitest-secret-0123456789abcdef-0123456789"

// Options tune New; the zero value is the production defaults with tracing sampled.
type Options struct {
	Issuer       string
	BenchDelay   bool
	Faults       httpapi.Faults
	DropWrites   bool
	ExtraLatency time.Duration
	ExtraCPU     time.Duration
	MaxBodyBytes int64
	// MaxConns sizes the pool (0: the URL's, 8).
	MaxConns int32
	// RequestTimeout and AcquireTimeout: the request deadline (also PostgreSQL's
	// statement_timeout) and the pool wait; 0 takes the defaults.
	RequestTimeout, AcquireTimeout time.Duration
	// Sampler defaults to AlwaysSample; pass sdktrace.NeverSample() to measure without tracing.
	Sampler sdktrace.Sampler
	// Seed inserts that many items before the server starts.
	Seed int
	// TracerProvider replaces the default one (e.g. to record spans with tracetest).
	TracerProvider *sdktrace.TracerProvider
}

// API is a running test API.
type API struct {
	Server   *httptest.Server
	Handler  http.Handler
	Pool     *pgxpool.Pool
	Registry *prometheus.Registry
	// Token is a valid bearer token (sub "apitest", 1 h).
	Token string
}

// New starts the API on a fresh database; everything is closed when the test ends.
func New(t testing.TB, opts Options) *API {
	t.Helper()
	sampler := opts.Sampler
	if sampler == nil {
		sampler = sdktrace.AlwaysSample()
	}
	tp := opts.TracerProvider
	if tp == nil {
		tp = sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler))
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	}
	timeout := opts.RequestTimeout
	if timeout <= 0 {
		timeout = httpapi.DefaultRequestTimeout
	}
	pool, err := postgres.Open(context.Background(), dbtest.NewURL(t),
		postgres.Options{TracerProvider: tp, MaxConns: opts.MaxConns, StatementTimeout: timeout})
	if err != nil {
		t.Fatalf("apitest: open pool: %v", err)
	}
	if opts.Seed > 0 {
		dbtest.Seed(t, pool, opts.Seed)
	}
	verifier, err := auth.NewVerifier([]byte(Secret), opts.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(postgres.NewPoolCollector(pool))
	h := httpapi.NewHandler(httpapi.Config{
		Store:          postgres.NewStore(pool, postgres.StoreOptions{DropWrites: opts.DropWrites, AcquireTimeout: opts.AcquireTimeout}),
		Verifier:       verifier,
		Metrics:        httpapi.NewMetrics(reg),
		TracerProvider: tp,
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		MaxBodyBytes:   opts.MaxBodyBytes,
		RequestTimeout: timeout,
		BenchDelay:     opts.BenchDelay,
		ExtraLatency:   opts.ExtraLatency,
		ExtraCPU:       opts.ExtraCPU,
		Faults:         opts.Faults,
	})
	srv := httptest.NewServer(h)
	// Order matters: the server first (its handlers use the pool), then the pool.
	t.Cleanup(pool.Close)
	t.Cleanup(srv.Close)
	tok, err := auth.Mint([]byte(Secret), opts.Issuer, "apitest", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &API{Server: srv, Handler: h, Pool: pool, Registry: reg, Token: tok}
}

// Request builds an authenticated request to path (relative to the server) with body (may be
// empty: then no body and no Content-Type).
func (a *API) Request(t testing.TB, method, path, body string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.Server.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// Response is a fully read response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends req with the server's client and reads the whole response.
func (a *API) Do(t testing.TB, req *http.Request) Response {
	t.Helper()
	resp, err := a.Server.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b.Bytes()}
}

// Metric returns the value of the counter, gauge or histogram sample count named name whose
// labels include all of labels (0 when absent).
func (a *API) Metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := a.Registry.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
			found++
		}
	}
	return found == len(want)
}

// ActiveSleeps counts the pg_sleep queries of this API's database running in PostgreSQL.
func (a *API) ActiveSleeps(t testing.TB) int {
	t.Helper()
	var n int
	err := a.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1 AND state = 'active'
		AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()`, postgres.ApplicationName).Scan(&n)
	if err != nil {
		t.Fatalf("count active pg_sleep: %v", err)
	}
	return n
}

// Eventually polls cond every 10 ms until it holds or timeout passes, then fails with msg.
// Deadlines, not fixed sleeps: the tests run on a loaded 2-core machine.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
