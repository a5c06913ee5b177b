package sampler

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// TestLibraryDefaultNames samples services whose metrics come from the libraries themselves,
// not from ours: client_golang's database/sql collector over a real PostgreSQL connection, and
// an OTel meter's http.server.active_requests through OTel's Prometheus exporter.
func TestLibraryDefaultNames(t *testing.T) {
	t.Run("database/sql collector", func(t *testing.T) {
		dsn := os.Getenv("TEST_DATABASE_URL")
		if dsn == "" {
			if os.Getenv("CI") == "true" {
				t.Fatal("TEST_DATABASE_URL is not set (CI=true)")
			}
			t.Skip("TEST_DATABASE_URL is not set")
		}
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(3)
		conn, err := db.Conn(context.Background()) // one connection in use while sampled
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewDBStatsCollector(db, "items"))
		url := serve(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

		sig := Probe(context.Background(), []string{url}, nil)
		if sig.Goroutines != FromMetrics || !sig.Pool || sig.InFlight || sig.Cancelled {
			t.Fatalf("Probe = %+v: want goroutines and pool found, no in-flight or cancels", sig)
		}
		got := NewFor(sig, nil, "", 0, 0).Sample(context.Background(), 0)
		if got.Goroutines < 1 || got.PoolAcquired != 1 || got.PoolMax != 3 || got.PoolTotal != 1 {
			t.Fatalf("Sample = %+v: want goroutines ≥ 1, pool acquired 1 of total 1, max 3", got)
		}
	})
	t.Run("OTel active requests", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			t.Fatal(err)
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
		defer func() { _ = mp.Shutdown(context.Background()) }()
		active, err := mp.Meter("net/http").Int64UpDownCounter("http.server.active_requests", metric.WithUnit("{request}"))
		if err != nil {
			t.Fatal(err)
		}
		active.Add(context.Background(), 2)
		url := serve(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

		sig := Probe(context.Background(), []string{url}, nil)
		if !sig.InFlight {
			t.Fatalf("Probe = %+v: the OTel in-flight gauge was not found", sig)
		}
		if got := NewFor(sig, nil, "", 0, 0).Sample(context.Background(), 0); got.InFlight != 2 {
			t.Fatalf("Sample.InFlight = %v, want 2", got.InFlight)
		}
	})
}

func serve(t *testing.T, h http.Handler) string {
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}
