package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/benchharness/benchharness/server/internal/apitest"
	"github.com/benchharness/benchharness/server/internal/httpapi"
)

// giveUp sends a delayed GET and cancels it once PostgreSQL runs its pg_sleep; it returns when
// the client has given up, and when it did.
// conns is the pool's size while the query runs.
func giveUp(t *testing.T, api *apitest.API, client *http.Client, delay string) (at time.Time, conns float64) {
	t.Helper()
	apitest.Eventually(t, 5*time.Second, func() bool { return api.ActiveSleeps(t) == 0 }, "an earlier pg_sleep still runs")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := api.Request(t, "GET", "/api/v1/items", "").WithContext(ctx)
	req.Header.Set("X-Bench-Delay", delay)
	errc := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	apitest.Eventually(t, 5*time.Second, func() bool { return api.ActiveSleeps(t) == 1 }, "the delayed query never reached PostgreSQL")
	conns = api.Metric(t, "pgxpool_total_conns", nil)
	cancel()
	at = time.Now()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v, want context.Canceled", err)
	}
	return at, conns
}

// TestClientCancel: a client that gives up frees the handler goroutine, and its query leaves
// pg_stat_activity within 1 s (the cancel travels HTTP → context → pgx → PostgreSQL).
func TestClientCancel(t *testing.T) {
	api := apitest.New(t, apitest.Options{BenchDelay: true})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	// Warm the pool and the server so that their long-lived goroutines exist before the snapshot.
	if r := api.Do(t, api.Request(t, "GET", "/api/v1/items", "")); r.Status != 200 {
		t.Fatalf("warm-up: %d", r.Status)
	}
	api.Server.Client().CloseIdleConnections()
	ignore := goleak.IgnoreCurrent()
	goroutines := runtime.NumGoroutine()

	at, conns := giveUp(t, api, client, "20s")
	apitest.Eventually(t, time.Second, func() bool { return api.ActiveSleeps(t) == 0 },
		"the cancelled query is still in pg_stat_activity")
	t.Logf("query gone %s after the client gave up", time.Since(at).Round(time.Millisecond))
	if err := findLeaks(ignore); err != nil {
		t.Fatalf("goroutines left behind by the cancelled request (started with %d): %v", goroutines, err)
	}
	// The connection that ran the cancelled query is still good: it was cancelled by a cancel
	// request, not killed (pgx's default watcher closes the socket and leaves pg_sleep running
	// until client_connection_check_interval notices).
	if r := api.Do(t, api.Request(t, "GET", "/api/v1/items", "")); r.Status != 200 {
		t.Fatalf("request after the cancel: %d", r.Status)
	}
	if got := api.Metric(t, "pgxpool_total_conns", nil); got != conns {
		t.Fatalf("pool has %v connections, had %v before the cancel: the connection was killed, not cancelled", got, conns)
	}
}

// TestCancelledMetrics: the cancelled counter and the 499 histogram rise by exactly the number
// of cancels sent, and successful requests are not counted as cancelled.
func TestCancelledMetrics(t *testing.T) {
	api := apitest.New(t, apitest.Options{BenchDelay: true})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	route := map[string]string{"route": "/api/v1/items"}
	const ok, cancels = 4, 3
	for range ok {
		if r := api.Do(t, api.Request(t, "GET", "/api/v1/items", "")); r.Status != 200 {
			t.Fatalf("status %d", r.Status)
		}
	}
	for range cancels {
		giveUp(t, api, client, "20s")
	}
	// The handler records the cancel when it returns, just after the client gave up.
	apitest.Eventually(t, 5*time.Second, func() bool {
		return api.Metric(t, "http_server_requests_cancelled_total", route) >= cancels
	}, "cancelled counter never reached %d", cancels)
	apitest.Eventually(t, 5*time.Second, func() bool {
		return api.Metric(t, "http_server_requests_in_flight", nil) == 0
	}, "requests still in flight")
	if got := api.Metric(t, "http_server_requests_cancelled_total", route); got != cancels {
		t.Errorf("http_server_requests_cancelled_total = %v, want %d", got, cancels)
	}
	if got := api.Metric(t, "http_server_request_duration_seconds", map[string]string{"route": "/api/v1/items", "method": "GET", "status": "499"}); got != cancels {
		t.Errorf("499 observations = %v, want %d", got, cancels)
	}
	if got := api.Metric(t, "http_server_request_duration_seconds", map[string]string{"route": "/api/v1/items", "method": "GET", "status": "200"}); got != ok {
		t.Errorf("200 observations = %v, want %d", got, ok)
	}
	if got := api.Metric(t, "pgxpool_acquired_conns", nil); got != 0 {
		t.Errorf("pgxpool_acquired_conns = %v after all requests, want 0", got)
	}
	// httpcount's counter: every request whose handler started, cancelled or not.
	if got := api.Metric(t, "http_server_requests_accepted_total", nil); got != ok+cancels {
		t.Errorf("http_server_requests_accepted_total = %v, want %d", got, ok+cancels)
	}
	// 404s are labelled "unmatched", never with the raw path.
	api.Do(t, api.Request(t, "GET", "/no/such/path/12345", ""))
	if got := api.Metric(t, "http_server_request_duration_seconds", map[string]string{"route": "unmatched", "status": "404"}); got != 1 {
		t.Errorf("unmatched 404 observations = %v, want 1", got)
	}
}

func TestFaultLeakGoroutine(t *testing.T) {
	const n = 20
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, leak := range []bool{false, true} {
		api := apitest.New(t, apitest.Options{Faults: httpapi.Faults{LeakGoroutine: leak}})
		get := func() {
			resp, err := client.Do(api.Request(t, "GET", "/api/v1/items", ""))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		get()
		before := settledGoroutines()
		for range n {
			get()
		}
		if leak {
			apitest.Eventually(t, 5*time.Second, func() bool { return runtime.NumGoroutine() >= before+n },
				"leak-goroutine: %d goroutines after %d requests, want ≥ %d", runtime.NumGoroutine(), n, before+n)
		} else {
			apitest.Eventually(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before },
				"without the fault: %d goroutines after %d requests, want back to %d", runtime.NumGoroutine(), n, before)
		}
	}
}

// settledGoroutines waits until the goroutine count stops changing (connection goroutines of
// earlier requests exit asynchronously) and returns it.
func settledGoroutines() int {
	last, same := runtime.NumGoroutine(), 0
	for same < 5 {
		time.Sleep(20 * time.Millisecond)
		if n := runtime.NumGoroutine(); n == last {
			same++
		} else {
			last, same = n, 0
		}
	}
	return last
}

// TestFaultIgnoreCancel: with ignore-cancel the query outlives the client that gave up, where
// TestClientCancel shows it gone within 1 s.
func TestFaultIgnoreCancel(t *testing.T) {
	api := apitest.New(t, apitest.Options{BenchDelay: true, Faults: httpapi.Faults{IgnoreCancel: true}})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	at, _ := giveUp(t, api, client, "3s")
	// Wait beyond the 1 s within which a cancel removes the query, then check it still runs.
	time.Sleep(time.Until(at.Add(1500 * time.Millisecond)))
	if n := api.ActiveSleeps(t); n != 1 {
		t.Fatalf("ignore-cancel: %d pg_sleep queries 1.5 s after the client gave up, want 1", n)
	}
	apitest.Eventually(t, 10*time.Second, func() bool { return api.ActiveSleeps(t) == 0 }, "the query never finished")
}

func TestFaultDropWrites(t *testing.T) {
	api := apitest.New(t, apitest.Options{DropWrites: true})
	for range 3 {
		r := api.Do(t, api.Request(t, "POST", "/api/v1/item", `{"name":"lost"}`))
		if r.Status != 201 || decode[struct{ ID int64 }](t, r).ID == 0 {
			t.Fatalf("drop-writes: status %d body %s, want 201 with an id", r.Status, r.Body)
		}
	}
	if l := decode[page](t, api.Do(t, api.Request(t, "GET", "/api/v1/items", ""))); len(l.Items) != 0 {
		t.Fatalf("drop-writes: %d items stored, want 0", len(l.Items))
	}
}

func TestFaultExtraLatency(t *testing.T) {
	const extra = 200 * time.Millisecond
	api := apitest.New(t, apitest.Options{ExtraLatency: extra})
	for _, path := range []string{"/api/v1/items", "/nope"} {
		start := time.Now()
		api.Do(t, api.Request(t, "GET", path, ""))
		if el := time.Since(start); el < extra {
			t.Fatalf("GET %s took %s, want at least %s", path, el, extra)
		}
	}
}

// TestFaultExtraCPU: BENCH_EXTRA_CPU adds CPU work, not waiting, to every request. The process's
// CPU time over a few requests must reach most of what was asked; without the fault the same
// requests cost a small fraction of it, so the check fails when the burn is missing.
func TestFaultExtraCPU(t *testing.T) {
	const extra, n = 20 * time.Millisecond, 10
	for _, tt := range []struct {
		name     string
		extraCPU time.Duration
		wantMin  time.Duration
		wantMax  time.Duration
	}{
		{"off", 0, 0, n * extra / 2},
		{"on", extra, n * extra / 2, time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := apitest.New(t, apitest.Options{ExtraCPU: tt.extraCPU})
			api.Do(t, api.Request(t, "GET", "/api/v1/items", "")) // warm the pool and the route
			before := processCPU(t)
			for range n {
				api.Do(t, api.Request(t, "GET", "/api/v1/items", ""))
			}
			if used := processCPU(t) - before; used < tt.wantMin || used > tt.wantMax {
				t.Fatalf("%d requests used %s of CPU, want between %s and %s", n, used, tt.wantMin, tt.wantMax)
			}
		})
	}
}

// processCPU is this process's user+system CPU time: the test's handler runs in it.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// findLeaks retries goleak.Find for up to 10 s: on a loaded machine connection goroutines can
// take longer to exit than goleak's own ~2 s of retries.
func findLeaks(opts ...goleak.Option) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// TestCancelledSeriesStartAtZero: every route's cancelled series exists before the first
// request, so "no cancels yet" reads as 0 and not as a missing series.
func TestCancelledSeriesStartAtZero(t *testing.T) {
	api := apitest.New(t, apitest.Options{})
	mfs, err := api.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "http_server_requests_cancelled_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "route" {
					seen[lp.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	for _, route := range []string{"/api/v1/items", "/api/v1/item"} {
		v, ok := seen[route]
		if !ok {
			t.Errorf("no http_server_requests_cancelled_total series for %s before any request (have %v)", route, seen)
		} else if v != 0 {
			t.Errorf("cancelled{route=%s} = %v before any request, want 0", route, v)
		}
	}
}
