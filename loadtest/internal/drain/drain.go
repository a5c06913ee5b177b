// Package drain watches a server drain from outside, as a client sees it: when its readiness
// probe first answers 503 and when a listener first refuses a connection. The shutdown scenario
// marks its readyz_503, listener_closed and admin_closed events with these.
package drain

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/benchharness/benchharness/loadtest/errclass"
)

// ReadyStatus is the status of one readiness probe of readyURL (0 when none came back).
func ReadyStatus(ctx context.Context, readyURL string) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, readyURL, nil)
	if err != nil {
		return 0
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// FirstNotReady returns the send time of the earliest probe of readyURL answered 503. Probes
// leave every 5 ms without waiting for the previous answer: on a loaded machine one answer can
// take hundreds of milliseconds, which a probe-after-probe loop would add to the flip time. It
// stops when a 503 has come back, readyURL's port refuses connections, or ctx ends (false when
// no 503 came).
func FirstNotReady(ctx context.Context, readyURL string) (time.Time, bool) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	client := &http.Client{Timeout: 2 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, Proxy: nil}}
	defer client.CloseIdleConnections()
	var (
		mu      sync.Mutex
		first   time.Time
		refused bool
		wg      sync.WaitGroup
	)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		mu.Lock()
		done := !first.IsZero() || refused
		mu.Unlock()
		if done || ctx.Err() != nil {
			break
		}
		sent := time.Now()
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, readyURL, nil)
			resp, err := client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refused = refused || errclass.OfErr(err) == errclass.Refused
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && (first.IsZero() || sent.Before(first)) {
				first = sent
			}
		})
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	// Probes still in flight may have been sent earlier than the first 503 seen: wait for them
	// (bounded by the client timeout) so the earliest send time wins.
	wg.Wait()
	return first, !first.IsZero()
}

// FirstRefused returns the start time of the first TCP connect to base's host and port (a URL)
// that was refused: the listener was closed by then. It tries every 5 ms until ctx ends (false
// when none was refused).
func FirstRefused(ctx context.Context, base string) (time.Time, bool) {
	u, err := url.Parse(base)
	if err != nil {
		return time.Time{}, false
	}
	d := net.Dialer{Timeout: time.Second}
	for ctx.Err() == nil {
		start := time.Now()
		c, err := d.DialContext(ctx, "tcp", u.Host)
		if err == nil {
			c.Close()
		} else if errclass.OfErr(err) == errclass.Refused {
			return start, true
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	return time.Time{}, false
}
