// Package items is the items server's profile: its request mix and held requests as targets
// files (requests.http, held.http: what -targets and -held-targets give for any other service),
// the seed of its database, and the table its acknowledged writes land in. The engine, the
// scenarios and the sampler know no items API; `loadtest run` uses this profile for the items
// server (make bench passes the same files).
package items

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
)

// files are the profile's targets files and the POST body they name.
//
//go:embed requests.http held.http create.json
var files embed.FS

// WritesTable is the table of the items the API creates: a 201's {"id":N} is a row there.
const WritesTable = "items"

// Targets returns the profile's mix (GET pages 1–5 and POST items, 4 to 1 by repetition) and its
// held requests (X-Bench-Delay: {delay}, which the server honours with BENCH_DELAY=on).
func Targets() (requests, held []vegeta.Target, err error) {
	if requests, err = parse("requests.http"); err != nil {
		return nil, nil, err
	}
	held, err = parse("held.http")
	return requests, held, err
}

func parse(name string) ([]vegeta.Target, error) {
	src, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("items profile %s: %w", name, err)
	}
	t, err := attack.ParseTargets(bytes.NewReader(src), files)
	if err != nil {
		return nil, fmt.Errorf("items profile %s: %w", name, err)
	}
	return t, nil
}

// Seed creates n items through the API (POST /api/v1/item), so the GETs of the first scenario
// read real pages and the database is not empty. It goes through the API rather than SQL: the
// harness knows the server's contract, not its schema.
func Seed(ctx context.Context, api, token string, n int) error {
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range n {
		body := fmt.Appendf(nil, `{"name":"seed-%d","description":"seeded by loadtest before the first scenario"}`, i)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/api/v1/item", bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("seed item %d: %w", i, err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("seed item %d: %w", i, err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("seed item %d: status %d: %s", i, resp.StatusCode, bytes.TrimSpace(msg))
		}
	}
	return nil
}
