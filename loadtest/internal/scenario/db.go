package scenario

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dbQueryTimeout bounds each of the harness's own queries (persisted writes, the benchmark's
// backend PIDs): one indexed lookup, so a database that has not answered by then is stuck, and
// the check it feeds says it could not measure rather than holding the run.
const dbQueryTimeout = 10 * time.Second

// persisted returns which of ids are rows of table, through the harness's own connection: the
// server's 201 is a claim, the row is the fact.
func persisted(ctx context.Context, db *pgxpool.Pool, table string, ids []int64) (found []int64, err error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, dbQueryTimeout)
	defer cancel()
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
func missingFrom(want, found []int64) []int64 {
	var out []int64
	for _, id := range want {
		if _, ok := slices.BinarySearch(found, id); !ok {
			out = append(out, id)
		}
	}
	return out
}
