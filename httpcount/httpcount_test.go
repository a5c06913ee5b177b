package httpcount_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/benchharness/benchharness/httpcount"
)

// TestCounts checks that a real server counts an answered request, one in flight, and one whose
// client gave up, and serves them in the text format the harness reads.
func TestCounts(t *testing.T) {
	counts := httpcount.New()
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.Handle("GET /metrics", counts.Handler())
	srv := httptest.NewServer(counts.Middleware(mux))
	defer srv.Close()

	get := func(ctx context.Context, path string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	if err := get(context.Background(), "/fast"); err != nil {
		t.Fatal(err)
	}
	// A client that gives up: the handler sees its context done and returns.
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error)
	go func() { gaveUp <- get(ctx, "/slow") }()
	<-started
	cancel()
	<-gaveUp
	// One still in flight.
	done := make(chan error)
	go func() { done <- get(context.Background(), "/slow") }()
	<-started
	waitFor(t, func() bool { return counts.Snapshot().Cancelled == 1 })
	if got, want := counts.Snapshot(), (httpcount.Counts{Accepted: 3, InFlight: 1, Cancelled: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The scrape itself is a request in flight, accepted fourth.
	for _, line := range []string{"http_server_requests_accepted_total 4", "http_server_requests_in_flight 2", "http_server_requests_cancelled_total 1", "go_goroutines "} {
		if !strings.Contains(string(body), "\n"+line) {
			t.Errorf("metrics lack %q:\n%s", line, body)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := counts.Snapshot(); got.InFlight != 0 || got.Cancelled != 1 {
		t.Errorf("after the last answer: %+v, want none in flight and still 1 cancelled", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
