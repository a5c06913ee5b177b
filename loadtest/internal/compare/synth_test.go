package compare

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// synth describes synthetic runs: one distribution per figure, a per-run drift (a machine that
// is a little slower or faster for a whole run), and knobs to inject a change.
type synth struct {
	windows    int     // per-second windows per scenario
	p50, p99   float64 // median of the per-window latencies, ms
	extraMs    float64 // added to every window's p50 and p99 (BENCH_EXTRA_LATENCY)
	p99ExtraMs float64 // added to p99 only
	rate       float64 // requests/s
	drift      float64 // σ of the per-run log-normal drift factor on latencies
	scDrift    float64 // σ of a further drift factor per scenario of a run (scenarios drift apart)
	failIn     string  // scenario that FAILs a correctness check
	perfFailIn string  // scenario that FAILs only its p99 objective
}

func defaultSynth() synth {
	return synth{windows: 30, p50: 2, p99: 8, rate: 100, drift: 0.03}
}

// run draws one summary.Run with three scenarios: steady (windows only), shutdown (drain time)
// and cancel (cleanup time).
func (s synth) run(rng *rand.Rand, id, commit string) summary.Run {
	drift := math.Exp(rng.NormFloat64() * s.drift)
	start := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	r := summary.Run{
		SchemaVersion: summary.SchemaVersion, ID: id, StartedAt: start, FinishedAt: start.Add(time.Minute),
		Env:      summary.Environment{Commit: commit, GoVersion: "go1.26.0", OS: "linux", Arch: "amd64", NumCPU: 2},
		Settings: summary.Settings{Profile: "quick", Seed: 1},
	}
	runDrift := drift
	for _, name := range []string{"steady", "shutdown", "cancel"} {
		drift := runDrift * math.Exp(rng.NormFloat64()*s.scDrift)
		sc := summary.Scenario{Name: name, Verdict: summary.Pass, DurationMs: float64(s.windows) * 1000, TargetRate: s.rate}
		for i := 0; i < s.windows; i++ {
			req := int64(s.rate)
			errs := int64(0)
			if rng.Float64() < 0.05 {
				errs = 1
			}
			sc.Windows = append(sc.Windows, summary.Window{
				StartMs:    float64(i) * 1000,
				Requests:   req,
				Errors:     errs,
				Rate:       s.rate,
				Throughput: float64(req-errs) + rng.NormFloat64()*2,
				P50:        s.p50*drift*math.Exp(rng.NormFloat64()*0.1) + s.extraMs,
				P99:        s.p99*drift*math.Exp(rng.NormFloat64()*0.25) + s.extraMs + s.p99ExtraMs,
			})
		}
		sc.Server = summary.ServerStats{
			GoroutinesBaseline: 12,
			GoroutinesPeak:     float64(40 + rng.IntN(5)),
			GoroutinesAfter:    12,
			SettleMs:           300 * math.Exp(rng.NormFloat64()*0.15),
		}
		switch name {
		case "shutdown":
			sc.Shutdown = &summary.ShutdownStats{DrainMs: 150 * math.Exp(rng.NormFloat64()*0.1), Classes: map[string]int64{}}
		case "cancel":
			sc.Cancel = &summary.CancelStats{CleanupMs: 120 * math.Exp(rng.NormFloat64()*0.2)}
		}
		if name == s.failIn {
			sc.Verdict = summary.Fail
			sc.Reasons = []string{"goroutines leaked: want after ≤ baseline+5, got +37"}
			sc.Checks = []summary.Check{{Name: "goroutines settle", Pass: false, Want: "≤ 17", Got: "49"}}
		}
		if name == s.perfFailIn {
			sc.Verdict = summary.Fail
			sc.Reasons = []string{"p99 latency: got 13 ms, want ≤ 10ms"}
			sc.Checks = []summary.Check{{Name: "p99 latency", Pass: false, Want: "≤ 10ms", Got: "13 ms", Kind: summary.Performance}}
		}
		r.Scenarios = append(r.Scenarios, sc)
	}
	r.Verdict = summary.Overall(r.Scenarios)
	return r
}

// inputs draws n runs in memory (no files), as Compare sees them after LoadSide.
func (s synth) inputs(rng *rand.Rand, side string, n int) []Input {
	out := make([]Input, n)
	for i := range out {
		id := fmt.Sprintf("%s-%d", side, i+1)
		out[i] = Input{Path: id + "/summary.json", Dir: id, Run: s.run(rng, id, side+"commit")}
	}
	return out
}

// writeRuns stores n runs as run folders under dir/side/ and returns that folder.
func (s synth) writeRuns(t testing.TB, rng *rand.Rand, dir, side string, n int) string {
	t.Helper()
	root := filepath.Join(dir, side)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("2026112502%02d00Z", i)
		d := filepath.Join(root, id)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := summary.Write(filepath.Join(d, "summary.json"), s.run(rng, id, side+"0123456789abcdef")); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
