package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// stallBacklog is the API listener's listen backlog under the stall-accept fault: small, so a
// load test fills the accept queue within a drain delay and the kernel starts dropping
// handshakes (ListenOverflows).
const stallBacklog = 8

// stallAccept is the stall-accept fault (BENCH_FAULTS): from the shutdown signal on, the API
// server stops calling Accept but keeps its listener open until Shutdown closes it, as a server
// that stops accepting while it drains would. Connections the kernel completes meanwhile wait in
// the accept queue and are reset when the listener closes; the harness must count them.
// The listener's backlog becomes stallBacklog.
func stallAccept(ctx context.Context, ln net.Listener) (net.Listener, error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, fmt.Errorf("stall-accept: listener is a %T, not TCP", ln)
	}
	raw, err := tl.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("stall-accept: %w", err)
	}
	var lerr error
	// listen(2) again on a listening socket only changes its backlog.
	if err := raw.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), stallBacklog) }); err != nil || lerr != nil {
		return nil, fmt.Errorf("stall-accept: set backlog %d: %w", stallBacklog, errors.Join(err, lerr))
	}
	s := &stalled{TCPListener: tl, stop: ctx.Done(), closed: make(chan struct{})}
	// A deadline in the past wakes an Accept already waiting, so not one more connection is taken.
	s.unhook = context.AfterFunc(ctx, func() { _ = tl.SetDeadline(time.Unix(1, 0)) })
	return s, nil
}

type stalled struct {
	*net.TCPListener
	stop      <-chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	unhook    func() bool
}

// Accept accepts until the stall begins, then blocks until the listener is closed.
func (s *stalled) Accept() (net.Conn, error) {
	for {
		select {
		case <-s.stop:
			<-s.closed
			return nil, net.ErrClosed
		default:
		}
		c, err := s.TCPListener.Accept()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue // the stall's deadline
		}
		return c, err
	}
}

func (s *stalled) Close() error {
	s.closeOnce.Do(func() { s.unhook(); close(s.closed) })
	return s.TCPListener.Close()
}
