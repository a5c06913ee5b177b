package main

import (
	"net"
	"net/http"
	"sync"
)

// connTracker follows the API's connections through http.Server.ConnState so that shutdown can
// exit the moment the last request is done. Shutdown alone notices that only at its next poll,
// which backs off to 500 ms (docs/design/server.md has what that cost every drain).
//
// A connection is busy from StateNew (accepted: a request may be on its way, and closing it
// would lose that request) until it goes idle, is closed or is hijacked.
type connTracker struct {
	mu       sync.Mutex
	busy     map[net.Conn]struct{}
	fresh    map[net.Conn]struct{} // accepted, first request not yet read (StateNew)
	open     int                   // accepted and not yet closed or hijacked (http_server_open_connections)
	draining bool
	done     chan struct{}
	once     sync.Once
	reading  bool // requestsRead was called
	read     chan struct{}
	readOnce sync.Once
}

func newConnTracker() *connTracker {
	return &connTracker{busy: map[net.Conn]struct{}{}, fresh: map[net.Conn]struct{}{},
		done: make(chan struct{}), read: make(chan struct{})}
}

// track is the http.Server.ConnState hook.
func (c *connTracker) track(conn net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.open++
	case http.StateClosed, http.StateHijacked:
		c.open--
	}
	switch s {
	case http.StateNew, http.StateActive:
		c.busy[conn] = struct{}{}
	case http.StateIdle, http.StateClosed, http.StateHijacked:
		delete(c.busy, conn)
	}
	if s == http.StateNew {
		c.fresh[conn] = struct{}{}
	} else {
		delete(c.fresh, conn)
	}
	c.closeIfDrainedLocked()
	c.closeIfReadLocked()
}

// requestsRead closes once no accepted connection waits for its first request to be read (at
// once if none does). Called after the API stopped accepting, it tells shutdown that Shutdown
// will find no request unread.
func (c *connTracker) requestsRead() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reading = true
	c.closeIfReadLocked()
	return c.read
}

func (c *connTracker) closeIfReadLocked() {
	if c.reading && len(c.fresh) == 0 {
		c.readOnce.Do(func() { close(c.read) })
	}
}

// drained starts watching for the end of the drain: the channel closes once no connection is
// busy (at once if none is).
func (c *connTracker) drained() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	c.closeIfDrainedLocked()
	return c.done
}

func (c *connTracker) closeIfDrainedLocked() {
	if c.draining && len(c.busy) == 0 {
		c.once.Do(func() { close(c.done) })
	}
}

// openConns is the number of API connections open now, idle ones included: a soak counts them,
// since a connection that is never closed leaks a goroutine and a file descriptor.
func (c *connTracker) openConns() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return float64(c.open)
}
