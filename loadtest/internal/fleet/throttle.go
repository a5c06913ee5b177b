package fleet

import (
	"net"
	"sync"
	"time"
)

// Failed authentication is throttled per client address: each may fail authBurst times in a
// row, then once per authEvery. A client over its budget is refused without its key being
// compared, so a guesser learns nothing faster than that.
const (
	authBurst = 5
	authEvery = time.Second
	// maxClients bounds the table; past it, clients not in it share one budget (overflow), so
	// an attacker with many addresses can lock them out, not grow the table.
	maxClients = 4096
	overflow   = ""
)

// throttle is the failed-authentication budget of every client seen failing recently.
type throttle struct {
	mu sync.Mutex
	by map[string]*budget
}

// budget is a token bucket: left failures at at, refilled one per authEvery up to authBurst.
type budget struct {
	left float64
	at   time.Time
}

func newThrottle() *throttle { return &throttle{by: map[string]*budget{}} }

func (b *budget) refill(now time.Time) {
	b.left = min(authBurst, b.left+now.Sub(b.at).Seconds()/authEvery.Seconds())
	b.at = now
}

// lookup is client's budget, or the overflow's when the table is full; nil: none yet.
func (t *throttle) lookup(client string, now time.Time, create bool) *budget {
	if b, ok := t.by[client]; ok {
		return b
	}
	if len(t.by) >= maxClients {
		for c, b := range t.by { // forget the clients whose budget is whole again
			if b.refill(now); b.left >= authBurst && c != overflow {
				delete(t.by, c)
			}
		}
	}
	if len(t.by) >= maxClients {
		client = overflow
		if b, ok := t.by[client]; ok {
			return b
		}
	}
	if !create {
		return nil
	}
	b := &budget{left: authBurst, at: now}
	t.by[client] = b
	return b
}

// allow reports whether client may try a key now.
func (t *throttle) allow(client string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.lookup(client, now, false)
	if b == nil {
		return true
	}
	b.refill(now)
	return b.left >= 1
}

// fail spends one of client's failures.
func (t *throttle) fail(client string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.lookup(client, now, true)
	b.refill(now)
	b.left = max(b.left-1, 0)
}

// clientOf is the IP of a request's remote address: one machine is one client whichever port
// it calls from.
func clientOf(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}
