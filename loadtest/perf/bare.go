package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/benchharness/benchharness/loadtest/cli"
)

// bareCommand serves GET /api/v1/items as the barest chi + pgx handler can: the same SELECT and
// JSON shape as the server, no auth, no metrics, no tracing. P1 runs it beside the server as a
// calibration: bare / pgbench is what this machine allows a Go HTTP service on this query, and
// server / bare is what the server's auth and telemetry cost.
func bareCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	if err := cli.Parse(fs, args); err != nil {
		return usageErrorf("bare: %v", err)
	}
	pool, err := pgxpool.New(ctx, getenv("DATABASE_URL"))
	if err != nil {
		return usageErrorf("bare: DATABASE_URL: %v", err)
	}
	defer pool.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return usageErrorf("bare: listen %s: %v", *addr, err)
	}
	r := chi.NewRouter()
	r.Get("/api/v1/items", func(w http.ResponseWriter, r *http.Request) {
		type row struct {
			ID          int64     `json:"id"`
			Name        string    `json:"name"`
			Description string    `json:"description"`
			CreatedAt   time.Time `json:"created_at"`
		}
		rows, err := pool.Query(r.Context(), listSQL, 20, 0)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer rows.Close()
		page := struct {
			Items   []row `json:"items"`
			Page    int   `json:"page"`
			PerPage int   `json:"per_page"`
		}{Items: make([]row, 0, 20), Page: 1, PerPage: 20}
		for rows.Next() {
			var it row
			if err := rows.Scan(&it.ID, &it.Name, &it.Description, &it.CreatedAt); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			page.Items = append(page.Items, it)
		}
		if err := rows.Err(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		b, _ := json.Marshal(page)
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	return serveUntil(ctx, "bare", ln, r, stdout)
}
