package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// Cancelling a query's context must end the query inside PostgreSQL, promptly and always.
//
// pgx's own CancelRequestContextWatcherHandler sends one cancel request and falls back to a
// socket deadline. Both fall short: PostgreSQL drops a cancel that arrives while the backend is
// still reading the query (seen under load, about 1 cancel in 200), and a deadline leaves the
// socket open (pgx does not close a connection on a timeout, and the pool's Close then waits up
// to 15 s for PostgreSQL's EOF), so the backend sleeps on unaware.
//
// cancelHandler therefore resends the cancel request every cancelRetry until the query returns
// (a lost cancel only happens in the instant before the query starts, so a retry lands), and
// after cancelGiveUp closes the socket, which PostgreSQL notices within checkInterval
// (client_connection_check_interval). Worst case: about cancelGiveUp + checkInterval.
const (
	cancelRetry   = 100 * time.Millisecond
	cancelGiveUp  = 500 * time.Millisecond
	checkInterval = 250 * time.Millisecond
)

// cancelHandler is the ctxwatch.Handler of one connection; the context watcher calls its two
// methods in turn, never concurrently.
type cancelHandler struct {
	conn *pgconn.PgConn
	stop chan struct{} // closed when the query has returned
	done chan struct{} // closed when the cancelling goroutine has ended
}

var _ ctxwatch.Handler = (*cancelHandler)(nil)

func newCancelHandler(conn *pgconn.PgConn) ctxwatch.Handler { return &cancelHandler{conn: conn} }

// HandleCancel starts cancelling the running query.
func (h *cancelHandler) HandleCancel(context.Context) {
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(h.done)
		giveUp := time.NewTimer(cancelGiveUp)
		defer giveUp.Stop()
		retry := time.NewTicker(cancelRetry)
		defer retry.Stop()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), cancelRetry)
			_ = h.conn.CancelRequest(ctx) // best effort: no error does not mean cancelled either
			cancel()
			select {
			case <-h.stop:
				return
			case <-giveUp.C:
				// Closing the socket fails the pending read at once (pgx then discards the
				// connection) and lets PostgreSQL see the client is gone.
				_ = h.conn.Conn().Close()
				return
			case <-retry.C:
			}
		}
	}()
}

// HandleUnwatchAfterCancel waits until no cancel request is in flight, so that none can land
// on the next query this connection runs.
func (h *cancelHandler) HandleUnwatchAfterCancel() {
	close(h.stop)
	<-h.done
}
