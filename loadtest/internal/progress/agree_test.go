package progress_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/progress"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// TestFiguresAgreeWithVegetaUnderALiveLine checks that, with the live line redrawing all along,
// the engine's count, success ratio and percentiles equal vegeta's own Metrics over the .bin file
// (what `vegeta report` prints). A live view that read the engine's t-digest compressed it
// mid-run and moved p90 from 5.59 to 5.94 ms; the line now keeps its own histogram.
func TestFiguresAgreeWithVegetaUnderALiveLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"items":[]}`)
	}))
	t.Cleanup(srv.Close)
	bin := filepath.Join(t.TempDir(), "agree.bin")
	line := progress.NewWith(io.Discard, true) // a terminal: redrawn every 200 ms
	// At the maximum rate until 20,000 results have arrived (however long a loaded machine
	// takes), then stopped: an interrupted attack keeps every result in both the figures and
	// the file, so they must still agree.
	const want, limit = 20000, 2 * time.Minute
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var n int
	enough := attack.ConsumerFunc(func(*attack.Hit) {
		if n++; n == want {
			stop()
		}
	})
	live := line.Attack("agree", 0, limit)
	f, err := attack.Attack(ctx, attack.Config{
		Scenario:    "agree",
		Pacer:       vegeta.ConstantPacer{}, // no rate: as fast as 16 workers go
		Duration:    limit,
		Targeter:    attack.NewTargeter(attack.TargetOptions{BaseURL: srv.URL, Seed: 1, Requests: []vegeta.Target{{Method: "GET", URL: "http://svc/"}}}),
		Timeout:     5 * time.Second,
		Workers:     16,
		MaxWorkers:  16,
		KeepAlive:   true,
		ResultsPath: bin,
	}, live, enough)
	if err != nil {
		t.Fatal(err)
	}
	live.Finish(f.AchievedRate)
	if f.Requests < want {
		t.Fatalf("only %d results in %s; the comparison needs ≥ %d", f.Requests, limit, want)
	}
	m := vegetaMetrics(t, bin)
	var sc summary.Scenario
	f.Fill(&sc)
	if int64(m.Requests) != sc.Requests || m.Success != sc.SuccessRatio {
		t.Errorf("vegeta: %d requests, success %v; summary: %d, %v", m.Requests, m.Success, sc.Requests, sc.SuccessRatio)
	}
	for _, q := range []struct {
		name        string
		theirs, our float64
	}{
		{"p50", ms(m.Latencies.P50), sc.Latency.P50},
		{"p90", ms(m.Latencies.P90), sc.Latency.P90},
		{"p95", ms(m.Latencies.P95), sc.Latency.P95},
		{"p99", ms(m.Latencies.P99), sc.Latency.P99},
		{"max", ms(m.Latencies.Max), sc.Latency.Max},
	} {
		if math.Abs(q.theirs-q.our) > 1e-9 {
			t.Errorf("%s: vegeta %.6f ms, summary %.6f ms", q.name, q.theirs, q.our)
		}
	}
}

func ms(d time.Duration) float64 { return summary.Ms(d) }

func vegetaMetrics(t *testing.T, path string) vegeta.Metrics {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	dec := vegeta.DecoderFor(fh)
	var m vegeta.Metrics
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		m.Add(&r)
	}
	m.Close()
	return m
}
