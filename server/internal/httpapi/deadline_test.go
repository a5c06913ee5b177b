package httpapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/benchharness/benchharness/server/internal/apitest"
)

// timed is one answer and how long it took; status 0 when the client gave up (err set).
type timed struct {
	status  int
	header  http.Header
	body    string
	elapsed time.Duration
	err     error
}

// send sends req with a client that gives up after limit, so that a stalled server fails the
// test at once instead of after the stall.
func send(api *apitest.API, req *http.Request, limit time.Duration) timed {
	client := api.Server.Client()
	client.Timeout = limit
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return timed{elapsed: time.Since(start), err: err}
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return timed{status: resp.StatusCode, header: resp.Header, body: b.String(), elapsed: time.Since(start), err: err}
}

// hold sends a GET asking for X-Bench-Delay: 30s in the background; its answer arrives on the
// channel.
func hold(t *testing.T, api *apitest.API, limit time.Duration) <-chan timed {
	t.Helper()
	req := api.Request(t, http.MethodGet, "/api/v1/items", "")
	req.Header.Set("X-Bench-Delay", "30s")
	res := make(chan timed, 1)
	go func() { res <- send(api, req, limit) }()
	return res
}

// TestPoolFullAnswers503: requests asking for X-Bench-Delay: 30s hold every pool connection;
// another GET and a POST get 503 with Retry-After once the pool wait (DB_ACQUIRE_TIMEOUT) is over,
// not when a connection frees up.
func TestPoolFullAnswers503(t *testing.T) {
	const acquire = 300 * time.Millisecond
	api := apitest.New(t, apitest.Options{BenchDelay: true, MaxConns: 2, RequestTimeout: 3 * time.Second, AcquireTimeout: acquire})
	held := []<-chan timed{hold(t, api, 10*time.Second), hold(t, api, 10*time.Second)}
	apitest.Eventually(t, 5*time.Second, func() bool { return api.Pool.Stat().AcquiredConns() == 2 }, "the held requests never took the whole pool")

	for _, req := range []*http.Request{
		api.Request(t, http.MethodGet, "/api/v1/items", ""),
		api.Request(t, http.MethodPost, "/api/v1/item", `{"name":"waits"}`),
	} {
		r := send(api, req, 5*time.Second)
		switch {
		case r.err != nil:
			t.Fatalf("%s while the pool is held: %v after %s; want a 503 after the pool wait", req.Method, r.err, r.elapsed)
		case r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1":
			t.Fatalf("%s while the pool is held: %d Retry-After %q %s; want 503 with Retry-After 1", req.Method, r.status, r.header.Get("Retry-After"), r.body)
		case !strings.Contains(r.body, "no database connection free"):
			t.Fatalf("%s: body %s; want the reason", req.Method, r.body)
		case r.elapsed < acquire || r.elapsed > 2*time.Second:
			// The upper bound is the point: the held connections stay held for 2 s more.
			t.Fatalf("%s: 503 after %s; want after the %s pool wait, before the held requests end", req.Method, r.elapsed, acquire)
		}
	}
	for _, h := range held {
		if r := <-h; r.status != http.StatusOK {
			t.Fatalf("held request: %d %v; want 200 (its delay is capped below the deadline)", r.status, r.err)
		}
	}
}

// TestRequestDeadline: with one pool connection, a second request asking for X-Bench-Delay: 30s
// waits for the first, then runs past its own deadline while PostgreSQL sleeps: it gets 503
// with Retry-After at the deadline, and its pg_sleep is cancelled in PostgreSQL.
func TestRequestDeadline(t *testing.T) {
	const timeout = 4 * time.Second // the delay cap is 3 s; the second request cannot finish in time
	api := apitest.New(t, apitest.Options{BenchDelay: true, MaxConns: 1, RequestTimeout: timeout, AcquireTimeout: timeout})
	first := hold(t, api, 10*time.Second)
	apitest.Eventually(t, 5*time.Second, func() bool { return api.Pool.Stat().AcquiredConns() == 1 }, "the first request never took the connection")
	second := <-hold(t, api, 10*time.Second)
	switch {
	case second.err != nil:
		t.Fatalf("second request: %v after %s; want 503 at its %s deadline", second.err, second.elapsed, timeout)
	case second.status != http.StatusServiceUnavailable || second.header.Get("Retry-After") != "1" || !strings.Contains(second.body, "timed out"):
		t.Fatalf("second request: %d Retry-After %q %s; want 503 timed out with Retry-After 1", second.status, second.header.Get("Retry-After"), second.body)
	case second.elapsed < timeout || second.elapsed > timeout+2*time.Second:
		t.Fatalf("second request answered after %s; want at its %s deadline", second.elapsed, timeout)
	}
	if r := <-first; r.status != http.StatusOK {
		t.Fatalf("first request: %d %v; want 200", r.status, r.err)
	}
	apitest.Eventually(t, 5*time.Second, func() bool { return api.ActiveSleeps(t) == 0 }, "the timed-out pg_sleep still runs in PostgreSQL")
}

// TestBenchDelayCappedBelowDeadline: X-Bench-Delay: 30s under a 2 s deadline sleeps 1 s (the
// cap) and answers 200, never a 503 of its own making.
func TestBenchDelayCappedBelowDeadline(t *testing.T) {
	api := apitest.New(t, apitest.Options{BenchDelay: true, RequestTimeout: 2 * time.Second})
	r := <-hold(t, api, 10*time.Second)
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("X-Bench-Delay: 30s: %d %v after %s; want 200 after the 1 s cap", r.status, r.err, r.elapsed)
	}
	if r.elapsed < time.Second {
		t.Fatalf("answered after %s; want at least the 1 s cap", r.elapsed)
	}
}
