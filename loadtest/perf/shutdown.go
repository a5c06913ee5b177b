package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// activeSleeps counts the server's queries sleeping in PostgreSQL right now (BENCH_DELAY's
// pg_sleep); the poller's own session has another application_name and is not counted. Each
// server serverctl starts is named items-server-<id>; perf runs one at a time on its own
// PostgreSQL, so the prefix finds exactly the current one.
const activeSleeps = `SELECT count(*) FROM pg_stat_activity
	WHERE application_name LIKE 'items-server%' AND state = 'active' AND query LIKE '%pg_sleep%'`

// sigtermDelays are the in-flight requests of one SIGTERM round, held in PostgreSQL for these
// times; the longest decides when a clean drain can end at the earliest.
var sigtermDelays = []time.Duration{200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond, 600 * time.Millisecond}

// cancelHold is how long a cancelled request would sleep in PostgreSQL if the cancel never
// reached it; it also caps one cancel's measurement, so a server that ignores cancels shows
// up as ≈ cancelHold rather than hanging the run.
const cancelHold = 3 * time.Second

// measureShutdown is P4: SIGTERM with requests in flight, and client cancels.
func (r *runner) measureShutdown(ctx context.Context) error {
	c := r.cfg
	secret, err := serverctl.NewSecret()
	if err != nil {
		return err
	}
	token, err := serverctl.Token(ctx, c.serverBin, secret, "perf")
	if err != nil {
		return err
	}
	start := func() (*serverctl.Local, error) {
		return serverctl.Start(ctx, serverctl.Config{
			Bin: c.serverBin, DatabaseURL: r.dbURL, JWTSecret: secret,
			Env: []string{"BENCH_DELAY=on", "LOG_LEVEL=warn", "OTEL_TRACES_EXPORTER=none", "SHUTDOWN_TIMEOUT=10s", "DRAIN_DELAY=0"},
		})
	}
	poller, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		return fmt.Errorf("connect the pg_stat_activity poller: %w", err)
	}
	defer poller.Close(context.WithoutCancel(ctx))
	count := func() (int, error) {
		var n int
		err := poller.QueryRow(ctx, activeSleeps).Scan(&n)
		return n, err
	}
	waitFor := func(want int, limit time.Duration) (time.Time, error) {
		deadline := time.Now().Add(limit)
		for {
			n, err := count()
			if err != nil {
				return time.Time{}, fmt.Errorf("poll pg_stat_activity: %w", err)
			}
			now := time.Now()
			if n == want {
				return now, nil
			}
			if now.After(deadline) {
				return now, fmt.Errorf("%d sleeping queries after %s, want %d", n, limit, want)
			}
		}
	}

	r.logf("P4: %d SIGTERM rounds", c.sigtermRounds)
	for i := 0; i < c.sigtermRounds && ctx.Err() == nil; i++ {
		a, b, err := r.sigtermRound(ctx, start, token, waitFor)
		if err != nil {
			r.res.Errors = append(r.res.Errors, fmt.Sprintf("P4 SIGTERM round %d: %v", i+1, err))
			r.fig(drainOverrun).Add(Sample{A: a, B: b, Value: math.NaN()})
			continue
		}
		r.fig(drainOverrun).Add(Sample{A: a, B: b, Value: a - b})
	}
	r.note(drainOverrun, "Each round: a fresh server (BENCH_DELAY=on, SHUTDOWN_TIMEOUT=10s, DRAIN_DELAY=0), %d requests held in PostgreSQL for %v, SIGTERM once all are sleeping; every request must answer 200 and the exit code be 0.",
		len(sigtermDelays), sigtermDelays)

	return r.cancelRounds(ctx, start, token, waitFor)
}

// cancelRounds is P4b: on one server, requests held in PostgreSQL are cancelled by the client,
// and a back-to-back poll measures how long until PostgreSQL no longer runs them.
func (r *runner) cancelRounds(ctx context.Context, start func() (*serverctl.Local, error), token string,
	waitFor func(int, time.Duration) (time.Time, error)) error {
	c := r.cfg
	srv, err := start()
	if err != nil {
		return err
	}
	defer srv.Stop(10 * time.Second)
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	var all []float64
	r.logf("P4: %d cancel rounds of %d", c.cancelRounds, c.cancels)
	for round := 0; round < c.cancelRounds && ctx.Err() == nil; round++ {
		var ds []float64
		for i := 0; i < c.cancels && ctx.Err() == nil; i++ {
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = get(rctx, client, srv.API()+itemsPath, token, cancelHold)
			}()
			if _, err := waitFor(1, 2*time.Second); err != nil {
				cancel()
				<-done
				r.res.Errors = append(r.res.Errors, fmt.Sprintf("P4 cancel: request never reached PostgreSQL: %v", err))
				continue
			}
			t0 := time.Now()
			cancel()
			t1, err := waitFor(0, cancelHold)
			<-done
			if err != nil {
				r.note(cancelLatency, "A cancel was not seen in PostgreSQL within %s (%v).", cancelHold, err)
			}
			// A cancelled sleep that is still there at cancelHold would end anyway: wait it out
			// so the next measurement starts with nothing sleeping.
			if err != nil {
				if _, err := waitFor(0, cancelHold); err != nil {
					return fmt.Errorf("cancel: %w", err)
				}
			}
			d := summary.Ms(t1.Sub(t0))
			ds = append(ds, d)
			all = append(all, d)
		}
		p := quantile(ds, 0.99)
		r.fig(cancelLatency).Add(Sample{A: p, Value: p})
	}
	if len(all) > 0 {
		r.note(cancelLatency, "Over all %d cancels: p50 %s ms, max %s ms. Poll loop: one query on one connection, back to back.",
			len(all), trim(quantile(all, 0.5)), trim(slices.Max(all)))
	}
	return nil
}

// sigtermRound starts a server, puts sigtermDelays in flight, sends SIGTERM and returns
// SIGTERM→exit and SIGTERM→last response, in ms.
func (r *runner) sigtermRound(ctx context.Context, start func() (*serverctl.Local, error), token string,
	waitFor func(int, time.Duration) (time.Time, error)) (float64, float64, error) {
	srv, err := start()
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	defer srv.Stop(10 * time.Second)
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last time.Time
		errs []error
	)
	for _, d := range sigtermDelays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, err := get(ctx, client, srv.API()+itemsPath, token, d)
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			last = later(last, now)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("in-flight request answered %d", code)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	if _, err := waitFor(len(sigtermDelays), 3*time.Second); err != nil {
		wg.Wait()
		return math.NaN(), math.NaN(), fmt.Errorf("requests not in flight: %w", err)
	}
	t0 := time.Now()
	if err := srv.Signal(syscall.SIGTERM); err != nil {
		wg.Wait()
		return math.NaN(), math.NaN(), err
	}
	wg.Wait()
	select {
	case <-srv.Exited():
	case <-time.After(15 * time.Second):
		return math.NaN(), math.NaN(), errors.New("server did not exit within 15s of SIGTERM")
	}
	a, b := summary.Ms(srv.ExitedAt().Sub(t0)), summary.Ms(last.Sub(t0))
	if len(errs) > 0 {
		return a, b, fmt.Errorf("in-flight requests failed: %w", errors.Join(errs...))
	}
	if code := srv.ExitCode(); code != 0 {
		return a, b, fmt.Errorf("exit code %d after a clean drain, want 0", code)
	}
	return a, b, nil
}

// get sends one authenticated GET held in PostgreSQL for delay and reads the whole answer,
// giving up fetchTimeout after the hold.
func get(ctx context.Context, client *http.Client, url, token string, delay time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, delay+fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Bench-Delay", delay.String())
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// quantile is the nearest-rank quantile of vs (NaN when empty): of 50 values, p99 is the largest.
func quantile(vs []float64, q float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
