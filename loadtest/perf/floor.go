package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benchharness/benchharness/loadtest/cli"
)

// floorReport is the JSON line `perf floor` prints.
type floorReport struct {
	Requests int64 `json:"requests"` // sent
	OK       int64 `json:"ok"`       // answered 2xx
}

// floorCommand is the least a paced Go HTTP/1.1 client spends per request, P3g's reference at a
// fixed rate: the request's bytes built once, one goroutine per keep-alive connection reading
// the status line, the headers and the body, a pacer that sleeps until each send is due. No
// net/http, no results kept, no checks: what the kernel and the Go runtime cost a client that
// sends at a rate, which wrk at its maximum (never idle, never woken) does not pay.
func floorCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "target URL (loopback only)")
	rate := fs.Float64("rate", 1000, "requests per second")
	conns := fs.Int("workers", 32, "connections")
	d := fs.Duration("duration", 5*time.Second, "how long to send")
	if err := cli.Parse(fs, args); err != nil {
		return usageErrorf("floor: %v", err)
	}
	if err := checkLoopbackURL(*target); err != nil {
		return usageErrorf("floor: -url: %v", err)
	}
	if !(*rate > 0 && *rate <= 1e5) || *conns < 1 || *d <= 0 { // so that NaN fails too
		return usageErrorf("floor: -rate must be in (0, 1e5], -workers ≥ 1, -duration > 0")
	}
	u, err := url.Parse(*target)
	if err != nil {
		return usageErrorf("floor: -url: %v", err)
	}
	rep, err := floorAttack(ctx, u, *rate, *conns, *d)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	return json.NewEncoder(stdout).Encode(rep)
}

func floorAttack(ctx context.Context, u *url.URL, rate float64, conns int, d time.Duration) (floorReport, error) {
	req := []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: perf-floor\r\n\r\n")
	due := make(chan struct{}, conns)
	var sent, ok atomic.Int64
	var wg sync.WaitGroup
	var dialer net.Dialer
	errs := make(chan error, conns)
	for range conns {
		c, err := dialer.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return floorReport{}, fmt.Errorf("dial %s: %w", u.Host, err)
		}
		context.AfterFunc(ctx, func() { c.Close() })
		wg.Go(func() {
			defer c.Close()
			r := textproto.NewReader(bufio.NewReader(c))
			for range due {
				if err := floorExchange(c, r, req); err != nil {
					errs <- err
					return
				}
				ok.Add(1)
			}
		})
	}
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	var failed error
send:
	for n := 0; time.Since(start) < d; n++ {
		time.Sleep(time.Until(start.Add(time.Duration(n) * interval)))
		select {
		case due <- struct{}{}:
			sent.Add(1)
		case failed = <-errs:
			break send
		case <-ctx.Done():
			break send
		}
	}
	close(due)
	wg.Wait()
	close(errs)
	return floorReport{Requests: sent.Load(), OK: ok.Load()}, errors.Join(ctx.Err(), failed, <-errs)
}

// floorExchange writes one request and reads its answer: a 2xx status line, the headers, a body
// of Content-Length bytes.
func floorExchange(c net.Conn, r *textproto.Reader, req []byte) error {
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	status, err := r.ReadLine()
	if err != nil {
		return fmt.Errorf("read the status line: %w", err)
	}
	if f := strings.Fields(status); len(f) < 2 || !strings.HasPrefix(f[1], "2") {
		return fmt.Errorf("answer %q, want 2xx", status)
	}
	length := 0
	for {
		line, err := r.ReadLine()
		if err != nil {
			return fmt.Errorf("read the headers: %w", err)
		}
		if line == "" {
			break
		}
		if k, v, found := strings.Cut(line, ":"); found && strings.EqualFold(k, "Content-Length") {
			if length, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return fmt.Errorf("Content-Length %q: %w", v, err)
			}
		}
	}
	if _, err := r.R.Discard(length); err != nil {
		return fmt.Errorf("read the body: %w", err)
	}
	return nil
}
