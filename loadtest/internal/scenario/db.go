package scenario

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

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

// persisted returns which of ids are rows of table, through the harness's own connection: the
// server's 201 is a claim, the row is the fact.
func persisted(ctx context.Context, db *pgxpool.Pool, table string, ids []int64) (found []int64, err error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := db.Query(ctx, `SELECT id FROM `+pgx.Identifier{table}.Sanitize()+` WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("look up %d acknowledged writes: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("look up acknowledged writes: %w", err)
		}
		found = append(found, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up acknowledged writes: %w", err)
	}
	slices.Sort(found)
	return found, nil
}

// missing returns the ids of want that are not in found (found sorted).
func missing(want, found []int64) []int64 {
	var out []int64
	for _, id := range want {
		if _, ok := slices.BinarySearch(found, id); !ok {
			out = append(out, id)
		}
	}
	return out
}
