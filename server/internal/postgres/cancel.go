package postgres

import (
	"context"
	"sync"
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
//
// Every cancel request sent is waited for until PostgreSQL acknowledges it (closes the cancel
// connection, after it has signalled the backend), up to cancelAckWait, before the connection
// runs its next query. One given up on earlier is still delivered later, and cancels whatever
// the backend runs then: under load an acknowledgement can take over 100 ms, and the next
// query on the connection, of a request that did nothing wrong, failed with 57014.
const (
	cancelRetry   = 100 * time.Millisecond
	cancelGiveUp  = 500 * time.Millisecond
	cancelAckWait = 5 * time.Second
	checkInterval = 250 * time.Millisecond
)

// cancelHandler is the ctxwatch.Handler of one connection; the context watcher calls its two
// methods in turn, never concurrently.
type cancelHandler struct {
	conn *pgconn.PgConn
	stop chan struct{} // closed when the query has returned
	done chan struct{} // closed when every cancel request sent has been acknowledged (or the socket closed)
}

var _ ctxwatch.Handler = (*cancelHandler)(nil)

func newCancelHandler(conn *pgconn.PgConn) ctxwatch.Handler { return &cancelHandler{conn: conn} }

// HandleCancel starts cancelling the running query.
func (h *cancelHandler) HandleCancel(context.Context) {
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(h.done)
		var sent sync.WaitGroup
		giveUp := time.NewTimer(cancelGiveUp)
		defer giveUp.Stop()
		retry := time.NewTicker(cancelRetry)
		defer retry.Stop()
		for {
			sent.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), cancelAckWait)
				defer cancel()
				_ = h.conn.CancelRequest(ctx) // best effort: no error does not mean cancelled either
			})
			select {
			case <-h.stop:
				sent.Wait()
				return
			case <-giveUp.C:
				// Closing the socket fails the pending read at once (pgx then discards the
				// connection, so no late cancel can reach a later query) and lets PostgreSQL
				// see the client is gone.
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
