package sampler

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// TestRunReadsTheServerAtMostEverySecond: at a run's settings (100 ms samples, server reads
// every DefaultServerEvery) the sampler asks the server's admin listener about once a second,
// yet still takes a sample every interval, each carrying the newest server figures. Every
// scrape costs the server CPU (docs/perf.md, P5): reading it every sample cost it 15 %.
func TestRunReadsTheServerAtMostEverySecond(t *testing.T) {
	var reads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(exposition))
	}))
	defer srv.Close()

	const runFor = 2500 * time.Millisecond
	s := New(srv.URL, nil, "", DefaultInterval)
	s.SetServerEvery(DefaultServerEvery)
	ctx, cancel := context.WithTimeout(context.Background(), runFor)
	defer cancel()
	s.Run(ctx, time.Now())

	// One read at the start, then one per DefaultServerEvery.
	if got, most := reads.Load(), int64(runFor/DefaultServerEvery)+1; got > most {
		t.Errorf("the sampler read the server %d times in %s, want ≤ %d (one per %s)", got, runFor, most, DefaultServerEvery)
	}
	samples := s.Samples()
	if least := int(runFor/DefaultInterval) / 2; len(samples) < least {
		t.Fatalf("%d samples in %s, want ≥ %d: the local readings must keep the %s interval", len(samples), runFor, least, DefaultInterval)
	}
	for i, sm := range samples {
		if sm.Goroutines != 17 || sm.Accepted != 42 || sm.ScrapeFailed {
			t.Fatalf("sample %d (%v ms) lost the server's figures: %+v", i, sm.OffsetMs, sm)
		}
	}
	if got := samples[len(samples)-1].OffsetMs; got < summary.Ms(runFor/2) {
		t.Errorf("last sample at %v ms, want past %v ms", got, summary.Ms(runFor/2))
	}
}

// TestFineReadsTheServerEveryTick: inside a Fine window (the baseline, the settle) every sample
// reads the server, so the settle checks judge the state of that moment.
func TestFineReadsTheServerEveryTick(t *testing.T) {
	var reads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(exposition))
	}))
	defer srv.Close()

	const fine = 800 * time.Millisecond
	s := New(srv.URL, nil, "", DefaultInterval)
	s.SetServerEvery(DefaultServerEvery)
	s.Fine(time.Now().Add(fine))
	ctx, cancel := context.WithTimeout(context.Background(), fine)
	defer cancel()
	s.Run(ctx, time.Now())
	if got, least := reads.Load(), int64(fine/DefaultInterval)/2; got < least {
		t.Errorf("%d server reads in a %s Fine window, want ≥ %d (every %s)", got, fine, least, DefaultInterval)
	}
}
