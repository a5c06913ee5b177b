package postgres_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/benchharness/benchharness/server/internal/dbtest"
	"github.com/benchharness/benchharness/server/internal/item"
	"github.com/benchharness/benchharness/server/internal/postgres"
)

// TestLostCancelIsBounded checks that, when the cancel request never reaches PostgreSQL (it
// ignores one that arrives while the backend is still reading the query; here a proxy refuses the
// cancel's connection), the fallbacks still end the query within the second the harness allows.
func TestLostCancelIsBounded(t *testing.T) {
	dbURL := dbtest.NewURL(t)
	direct, err := postgres.Open(context.Background(), dbURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(direct.Close)

	pool, p := proxiedPool(t, dbURL)
	p.refuseNew() // pgx sends its cancel request on a new connection: it is lost

	s := postgres.NewStore(pool, postgres.StoreOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.List(ctx, item.Page{Number: 1, Size: 1}, 20*time.Second)
		done <- err
	}()
	waitActive(t, direct, 1)
	cancelled := time.Now()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("List returned no error after its context was cancelled")
	}
	waitActive(t, direct, 0)
	if took := time.Since(cancelled); took > time.Second {
		t.Fatalf("with the cancel request lost, the query ran on for %v after the cancel, want ≤ 1s", took.Round(time.Millisecond))
	}
}

// TestLateCancelLandsOnNoOtherQuery checks that a cancel request that PostgreSQL acknowledges
// late (here a proxy holds the cancel's connection 300 ms, as a postmaster slow to fork does
// under load) does not cancel the next query that runs on the connection.
func TestLateCancelLandsOnNoOtherQuery(t *testing.T) {
	dbURL := dbtest.NewURL(t)
	pool, p := proxiedPool(t, dbURL)
	p.delayNew(300 * time.Millisecond) // pgx sends its cancel requests on new connections

	s := postgres.NewStore(pool, postgres.StoreOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := s.List(ctx, item.Page{Number: 1, Size: 1}, 5*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("List on a context that ran out = %v, want context.DeadlineExceeded", err)
	}
	if _, err := s.List(context.Background(), item.Page{Number: 1, Size: 1}, 500*time.Millisecond); err != nil {
		t.Fatalf("the next query on the connection: %v; a cancel meant for the one before landed on it", err)
	}
}

// proxiedPool is a pool of one connection to dbURL, opened through a proxy that the caller
// can then tell to refuse or hold the connections opened after it (pgx's cancel requests).
func proxiedPool(t *testing.T, dbURL string) (*pgxpool.Pool, *proxy) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr()
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	pool, err := postgres.Open(context.Background(), u.String(), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pool.Ping(context.Background()); err != nil { // the one connection, through the proxy
		t.Fatal(err)
	}
	return pool, p
}

// proxy forwards TCP connections to a target until told to refuse new ones, or holds new ones
// for a while before it forwards them.
type proxy struct {
	ln     net.Listener
	refuse atomic.Bool
	delay  atomic.Int64 // nanoseconds
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.refuse.Load() {
				c.Close()
				continue
			}
			p.wg.Add(1)
			go p.forward(c, target, time.Duration(p.delay.Load()))
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// forward connects c to target after delay; what c sent meanwhile waits in its socket.
func (p *proxy) forward(c net.Conn, target string, delay time.Duration) {
	defer p.wg.Done()
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
	time.Sleep(delay)
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up)
	p.mu.Unlock()
	p.wg.Add(2)
	go p.pipe(up, c)
	go p.pipe(c, up)
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, err := io.Copy(dst, src)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		_ = err // a reset from either side ends the pipe; nothing to report
	}
	dst.Close()
	src.Close()
}

func (p *proxy) addr() string { return p.ln.Addr().String() }
func (p *proxy) refuseNew()   { p.refuse.Store(true) }

func (p *proxy) delayNew(d time.Duration) { p.delay.Store(int64(d)) }
