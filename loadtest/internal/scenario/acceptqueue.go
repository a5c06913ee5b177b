package scenario

import (
	"fmt"

	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/benchharness/benchharness/loadtest/errclass"
	"github.com/benchharness/benchharness/loadtest/internal/netsig"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// queuePoll is how often the API port's accept queue is read from SIGTERM until its listener
// closes: a connection must wait in the queue at least this long to be seen there. A full
// backlog waits the whole drain delay; a healthy server's queue empties within microseconds.
const queuePoll = time.Millisecond

// queueWatch is what the readings of the API port since SIGTERM saw of its accept queue. Every
// reading is kept (their union): a connection seen waiting in any reading counts as queued,
// unless a later reading saw it accepted by the server. A connection no reading saw at all, that
// failed after the last reading with the listener open, entered the queue after that reading:
// the readings are a poll, and the close can come less than one poll after the handshake.
type queueWatch struct {
	mu       sync.Mutex
	queued   map[netip.AddrPort]bool // client address → still queued at its last sighting
	seenAny  map[netip.AddrPort]bool // every client address a reading saw, queued or accepted
	readings int
	lastOpen time.Time // the last reading with a listener on the port
	closedAt time.Time // the first reading with no listener on the port
	err      error
}

// watchQueue reads the accept queue of k's API port every queuePoll until its listener is gone
// (then it calls closed with the moment of the first reading without one) or stop is called.
func watchQueue(ctx context.Context, k *kernel, closed func(time.Time)) (w *queueWatch, stop func()) {
	w = newQueueWatch()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		d, err := netsig.Open(k.pid)
		if err != nil {
			w.fail(err)
			return
		}
		defer d.Close()
		t := time.NewTicker(queuePoll)
		defer t.Stop()
		for {
			began := time.Now()
			p, err := d.Port(k.port)
			if err != nil {
				w.fail(err)
				return
			}
			if now := time.Now(); w.add(p, began, now) {
				closed(now)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return w, sync.OnceFunc(func() { cancel(); wg.Wait() })
}

func newQueueWatch() *queueWatch {
	return &queueWatch{queued: map[netip.AddrPort]bool{}, seenAny: map[netip.AddrPort]bool{}}
}

func (w *queueWatch) fail(err error) {
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
}

// add records one reading, taken between began and ended, and reports whether the listener
// has closed. The kernel's dump is one moment in that span, so a listener seen open was open at
// began at the earliest and one seen closed was closed by ended.
func (w *queueWatch) add(p netsig.Port, began, ended time.Time) (closed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.readings++
	for _, a := range p.Queued {
		w.queued[a] = true
		w.seenAny[a] = true
	}
	for _, a := range p.Accepted {
		if w.queued[a] {
			w.queued[a] = false
		}
		w.seenAny[a] = true
	}
	if len(p.Listeners) == 0 {
		w.closedAt = ended
		return true
	}
	w.lastOpen = began
	return false
}

// seen is how many connections the readings saw waiting and never accepted.
func (w *queueWatch) seen() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, q := range w.queued {
		if q {
			n++
		}
	}
	return n
}

// queuedAt reports whether the request whose error is msg, sent at sent and failed at end, was
// carried by a connection the readings saw waiting in the accept queue, never accepted; or by one
// they never saw, sent before the listener was seen closed and failed after it was last seen open.
func (w *queueWatch) queuedAt(msg string, sent, end time.Time) bool {
	local, ok := errclass.Local(msg)
	if !ok {
		return false
	}
	a, err := netip.ParseAddrPort(local)
	if err != nil {
		return false
	}
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.queued[a] {
		return true
	}
	return !w.seenAny[a] && !w.lastOpen.IsZero() && !w.closedAt.IsZero() &&
		!end.Before(w.lastOpen) && sent.Before(w.closedAt)
}

// sighting says what the readings saw of the connection that carried the request whose error
// is msg, and when the listener was last seen open and first seen closed (from sigterm): the
// evidence a lost request at the close is judged on.
func (w *queueWatch) sighting(msg string, sigterm time.Time) string {
	local, ok := errclass.Local(msg)
	if !ok {
		return ""
	}
	a, err := netip.ParseAddrPort(local)
	if err != nil {
		return ""
	}
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := "never seen by a reading"
	switch q, ok := w.queued[a]; {
	case ok && q:
		seen = "seen waiting in the accept queue"
	case ok:
		seen = "seen waiting, then accepted by the server"
	case w.seenAny[a]:
		seen = "seen accepted by the server"
	}
	ms := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return fmt.Sprintf("%+.1fms", summary.Ms(t.Sub(sigterm)))
	}
	return fmt.Sprintf("connection %s; listener last seen open %s, first seen closed %s", seen, ms(w.lastOpen), ms(w.closedAt))
}

// queuedFunc is classify's view of the accept-queue readings; nil when there were none.
func (s *shutdownRun) queuedFunc() func(msg string, sent, end time.Time) bool {
	if s.queue == nil {
		return nil
	}
	s.queue.mu.Lock()
	ok := s.queue.err == nil && s.queue.readings > 0
	s.queue.mu.Unlock()
	if !ok {
		return nil
	}
	return s.queue.queuedAt
}

// queueCheck reports the requests reset in the kernel's accept queue. They FAIL the verdict
// only when the settings say so (ShutdownSettings.FailOnAcceptQueue): a plain shutdown has no
// other server to take them, a deploy does.
func (s *shutdownRun) queueCheck(ss *summary.ShutdownStats) summary.Check {
	const name = "connections reset in the kernel's accept queue"
	if s.queuedFunc() == nil {
		why := "the server's sockets are out of the harness's reach (not on this machine)"
		if s.queue != nil && s.queue.err != nil {
			why = s.queue.err.Error()
		}
		return outOfReach(name, "counted", why)
	}
	n := ss.Classes[AcceptQueueReset]
	got := fmt.Sprintf("reset in the kernel's accept queue: %d (%d connections seen waiting after SIGTERM)", n, ss.AcceptQueueSeen)
	if s.live.Settings.Shutdown.FailOnAcceptQueue {
		return check(name, n == 0, "0 (FailOnAcceptQueue)", got)
	}
	return check(name, true, "counted, not judged (FailOnAcceptQueue off: no other server could take them)", got)
}
