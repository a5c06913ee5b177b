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

// TestFiguresAgreeWithVegetaUnderALiveLine: with the live line redrawing all along, the
// engine's count, success ratio and percentiles equal vegeta's own Metrics over the .bin file
// (what `vegeta report` prints). A live view that read the engine's t-digest compressed it
// mid-run and moved p90 from 5.59 to 5.94 ms; the line now keeps its own histogram.
func TestFiguresAgreeWithVegetaUnderALiveLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"items":[]}`)
	}))
	t.Cleanup(srv.Close)
	bin := filepath.Join(t.TempDir(), "agree.bin")
	line := progress.NewWith(io.Discard, true) // a terminal: redrawn every 200 ms
	const rate, secs = 5000, 8
	live := line.Attack("agree", 0, secs*time.Second)
	f, err := attack.Attack(context.Background(), attack.Config{
		Scenario:       "agree",
		Pacer:          vegeta.ConstantPacer{Freq: rate, Per: time.Second},
		Duration:       secs * time.Second,
		Targeter:       attack.NewTargeter(attack.TargetOptions{BaseURL: srv.URL, Seed: 1}),
		Timeout:        5 * time.Second,
		KeepAlive:      true,
		ResultsPath:    bin,
		MaxLatenessP99: time.Minute,
	}, live)
	if err != nil {
		t.Fatal(err)
	}
	live.Finish(f.AchievedRate)
	if f.Requests < 20000 {
		t.Fatalf("only %d results in %d s; the comparison needs ≥ 20000", f.Requests, secs)
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
