package attack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/errclass"
)

// newClient is vegeta's default client (same dialer keep-alive and idle pool) with our
// timeout and keep-alive setting. Cancelling ctx closes every connection it dialled, which
// aborts the requests in flight on them at once, and refuses new dials.
//
// The transport stays a plain *http.Transport: wrapping it to tie each request to ctx made
// net/http add a goroutine, a timer and a context per request (Client.Timeout on an unknown
// RoundTripper), measured at 19 % more CPU per request than the vegeta CLI (make perf, P3a).
func newClient(cfg Config, ctx context.Context) *http.Client {
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	if !cfg.KeepAlive {
		dialer.KeepAlive = 0
	}
	conns := &connSet{dial: dialer.DialContext, conns: map[*trackedConn]struct{}{}}
	context.AfterFunc(ctx, conns.closeAll)
	tr := &http.Transport{
		Proxy:               nil, // loopback targets: never through an environment proxy
		DialContext:         conns.DialContext,
		MaxIdleConnsPerHost: vegeta.DefaultConnections,
		DisableKeepAlives:   !cfg.KeepAlive,
	}
	c := &http.Client{
		Timeout:   cfg.Timeout,
		Transport: tr,
		// Redirects are results, not something to follow (vegeta.NoFollow).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// With held requests the wrapper also watches them for the transport's silent retry (see
	// perRequest), so scenarios without any keep the plain transport.
	held := cfg.Targets.DelayShare > 0 && cfg.Targets.Delay > 0
	if (cfg.HeldTimeout > 0 && cfg.HeldTimeout != cfg.Timeout) || held {
		// Client.Timeout stays 0: with it set, net/http would add a goroutine per request
		// around a RoundTripper it does not know (see above); perRequest sets the deadlines.
		c.Timeout, c.Transport = 0, perRequest{tr: tr, normal: cfg.Timeout, held: cmp.Or(cfg.HeldTimeout, cfg.Timeout)}
	}
	return c
}

// perRequest gives each request its client timeout: held for the ones that carry a bench delay
// (the engine's note in the URL fragment), normal for the rest. Like Client.Timeout, the
// deadline covers the whole exchange, reading the body included.
type perRequest struct {
	tr           *http.Transport
	normal, held time.Duration
}

// A held GET that the server cut (a Close instead of a drain) would otherwise hide: net/http
// retries a replayable request whose reused connection failed after it was written, the retry
// finds the listener closed, and the result reads "connection refused", a request never
// accepted. So the wrapper notes when a held request was written, and a dial error after that
// becomes the EOF it was.
func (p perRequest) RoundTrip(req *http.Request) (_ *http.Response, err error) {
	timeout := p.normal
	_, held := fragmentNote("#"+req.URL.Fragment, DelayMarker)
	if held {
		timeout = p.held
	}
	ctx, cancel := context.WithTimeout(req.Context(), timeout)
	var wrote atomic.Bool
	var local atomic.Pointer[string]
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		// The connection's local address names a request the kernel reset in the server's
		// accept queue (the shutdown scenario matches it against netsig's readings).
		GotConn: func(ci httptrace.GotConnInfo) {
			a := ci.Conn.LocalAddr().String()
			local.Store(&a)
		},
		WroteRequest: func(httptrace.WroteRequestInfo) {
			if held {
				wrote.Store(true)
			}
		}})
	resp, err := p.tr.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		if a := local.Load(); a != nil {
			defer func() { err = errclass.WithLocal(err, *a) }()
		}
		var op *net.OpError
		if wrote.Load() && errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("EOF: the server closed the connection after the held request was written; the transport's retry found the port closed (%s)", op.Addr)
		}
		if ctx.Err() == context.DeadlineExceeded {
			// The same words as Client.Timeout's, so a timeout is classified as one.
			return nil, fmt.Errorf("%w (Client.Timeout exceeded: %s)", err, timeout)
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases a request's deadline once its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// connSet is the set of open connections a client dialled, so that an interrupt can close
// them all: a request in flight on one fails at once ("use of closed network connection",
// classified as cancelled).
type connSet struct {
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

// DialContext dials through the set's dialer and tracks the connection until it is closed.
func (s *connSet) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := s.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, fmt.Errorf("dial %s: attack interrupted: %w", addr, context.Canceled)
	}
	tc := &trackedConn{Conn: c, set: s}
	s.conns[tc] = struct{}{}
	return tc, nil
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	conns := s.conns
	s.conns, s.closed = nil, true
	s.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
}

func (s *connSet) remove(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c) // a no-op on the nil map after closeAll
}

type trackedConn struct {
	net.Conn
	set *connSet
}

func (c *trackedConn) Close() error {
	c.set.remove(c)
	return c.Conn.Close()
}
