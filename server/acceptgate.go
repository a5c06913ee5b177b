package main

import (
	"errors"
	"net"
	"sync"
)

// acceptGate is the API listener as the server's shutdown closes it. net/http drops a request it
// reads after Shutdown has begun (conn.serve returns when the server is shutting down), so a
// connection accepted just before the close, whose request arrives a moment later, was answered
// by EOF. The drain therefore stops accepting first (stop: the socket closes, Serve keeps waiting
// in Accept), lets every accepted connection's first request be read, and only then calls
// Shutdown, whose Close ends the wait.
type acceptGate struct {
	net.Listener
	stopped   chan struct{} // stop was called
	parked    chan struct{} // Accept saw the stop: no connection is accepted any more
	closed    chan struct{} // Close was called (by Shutdown)
	stopOnce  sync.Once
	parkOnce  sync.Once
	closeOnce sync.Once
	stopErr   error
}

func newAcceptGate(ln net.Listener) *acceptGate {
	return &acceptGate{Listener: ln, stopped: make(chan struct{}), parked: make(chan struct{}), closed: make(chan struct{})}
}

// Accept accepts until stop, then waits for Close. Serve marks a connection it accepted StateNew
// before it calls Accept again, so once parked every accepted connection is known to ConnState.
func (g *acceptGate) Accept() (net.Conn, error) {
	c, err := g.Listener.Accept()
	if err == nil {
		return c, nil
	}
	select {
	case <-g.stopped:
		g.parkOnce.Do(func() { close(g.parked) })
		<-g.closed
		return nil, net.ErrClosed
	default:
		return nil, err
	}
}

// stop closes the socket: new connections are refused (or, on a socket shared with a successor,
// left to it), and those in its accept queue are reset by the kernel.
func (g *acceptGate) stop() error {
	g.stopOnce.Do(func() {
		close(g.stopped)
		if err := g.Listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			g.stopErr = err
		}
	})
	return g.stopErr
}

// stoppedAccepting closes once Accept has returned for the last time.
func (g *acceptGate) stoppedAccepting() <-chan struct{} { return g.parked }

func (g *acceptGate) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return g.stop()
}
