package history

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/compare"
)

// recorded reads the real runs bench/record.sh recorded of one variant.
func recorded(t *testing.T, variant string) []compare.Input {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("..", "..", "..", "bench", "recordings", "*", variant))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no recordings of %s under bench/recordings: %v", variant, err)
	}
	runs, err := Load(dirs)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// sequence gives each run a commit of its own, an hour apart in the order given: recorded runs
// of one commit posing as a history of many.
func sequence(runs []compare.Input) []compare.Input {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	out := make([]compare.Input, len(runs))
	for i, r := range runs {
		r.Run.Env.Commit = fmt.Sprintf("c%011d", i)
		r.Run.Env.Dirty = false
		r.Run.Env.CommitTime = t0.Add(time.Duration(len(runs)-i) * -time.Hour) // given newest last
		out[i] = r
	}
	return out
}

func changePoints(h History) []string {
	var out []string
	for _, s := range h.Series {
		for _, c := range s.ChangePoints {
			out = append(out, fmt.Sprintf("%s %s at %s (%+.0f%%, p=%.3g)", s.Scenario, s.Metric, c.Commit, c.ChangePct, c.P))
		}
	}
	return out
}

// TestRealAASequence checks that the 16 unchanged runs recorded in one session, as a sequence of
// 16 commits, have no change point in any figure of any scenario; the INVALID one is listed.
func TestRealAASequence(t *testing.T) {
	runs := recorded(t, "aa")
	if len(runs) < 16 {
		t.Fatalf("%d unchanged recorded runs, want 16", len(runs))
	}
	h := Build(sequence(runs), DefaultDetector())
	if h.Commits != len(runs) || len(h.LeftOut) != 0 {
		t.Fatalf("%d commits, %d left out; want %d and none", h.Commits, len(h.LeftOut), len(runs))
	}
	if cps := changePoints(h); len(cps) > 0 {
		t.Errorf("change points in an A/A sequence: %v", cps)
	}
	if len(h.Series) < 20 {
		t.Errorf("%d series, want every key figure of 4 scenarios", len(h.Series))
	}
	if len(h.Invalid) != 1 || h.Invalid[0].Scenario != "steady" {
		t.Errorf("INVALID runs %+v, want the one recorded (steady)", h.Invalid)
	}
}

// TestRealStep takes 8 unchanged runs then 8 with 5 ms added to every request, as 16 commits, and
// checks that the change point of steady's p50 is at the first slow commit, and the size is the
// 5 ms.
func TestRealStep(t *testing.T) {
	aa, slow := recorded(t, "aa"), recorded(t, "latency-5ms")
	runs := sequence(append(append([]compare.Input(nil), aa[1:9]...), slow[:8]...))
	h := Build(runs, DefaultDetector())
	var found *Change
	for _, s := range h.Series {
		for _, c := range s.ChangePoints {
			if s.Scenario == "steady" && s.Metric == "p50_ms" {
				found = &c
			}
		}
	}
	if found == nil {
		t.Fatalf("no steady p50 change point; found %v", changePoints(h))
	}
	if found.Commit != runs[8].Run.Env.Commit || found.Index != 8 || found.P >= h.Detector.Alpha {
		t.Errorf("steady p50 change at %s (index %d, p=%g), want %s (index 8) with p < %g", found.Commit, found.Index, found.P, runs[8].Run.Env.Commit, h.Detector.Alpha)
	}
	if d := found.After - found.Before; d < 4 || d > 6.5 {
		t.Errorf("steady p50 moved %.2f ms (%.2f → %.2f), want about 5", d, found.Before, found.After)
	}
	t.Logf("change points: %s", strings.Join(changePoints(h), "; "))
}

// TestUnlikeRunsLeftOut checks that a run of another profile and one with another GOMAXPROCS are
// kept out of the series and named with what differs; the others still make the series.
func TestUnlikeRunsLeftOut(t *testing.T) {
	runs := sequence(recorded(t, "aa")[:8])
	for i := range runs {
		runs[i].Run.Env.GOMAXPROCS = 2
	}
	runs[2].Run.Settings.Profile = "default"
	runs[5].Run.Env.GOMAXPROCS = 1
	h := Build(runs, DefaultDetector())
	if len(h.LeftOut) != 2 || h.Commits != 6 {
		t.Fatalf("left out %+v and %d commits kept, want 2 and 6", h.LeftOut, h.Commits)
	}
	for i, want := range []struct{ run, reason string }{
		{runs[2].Run.ID, "profile: quick vs default"},
		{runs[5].Run.ID, "GOMAXPROCS: 2 vs 1"},
	} {
		if h.LeftOut[i].Run != want.run || !strings.Contains(h.LeftOut[i].Reason, want.reason) {
			t.Errorf("left out %+v, want run %s for %q", h.LeftOut[i], want.run, want.reason)
		}
	}
	for _, s := range h.Series {
		for _, p := range s.Points {
			for _, id := range p.Runs {
				if id == runs[2].Run.ID || id == runs[5].Run.ID {
					t.Errorf("%s %s holds the unlike run %s", s.Scenario, s.Metric, id)
				}
			}
		}
	}
}

// BenchmarkRealAAChangePoints measures the false change-point rate on real runs: the 16
// unchanged runs recorded in one session, in 200 seeded random orders, each order posing as a
// sequence of 16 commits. It reports the share of sequences with any change point in any of
// their series (sequence-%) and the share of series with one (series-%). The orders share
// their runs, so they are not independent samples; the rate is of this session's noise.
//
//	go test ./loadtest/internal/history -run '^$' -bench RealAA -benchtime 1x
func BenchmarkRealAAChangePoints(b *testing.B) {
	dirs, _ := filepath.Glob(filepath.Join("..", "..", "..", "bench", "recordings", "*", "aa"))
	runs, err := Load(dirs)
	if err != nil {
		b.Fatal(err)
	}
	const orders = 200
	var sequences, series, total int
	for b.Loop() {
		sequences, series, total = 0, 0, 0
		for i := range orders {
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			shuffled := make([]compare.Input, len(runs))
			for j, k := range rng.Perm(len(runs)) {
				shuffled[j] = runs[k]
			}
			h := Build(sequence(shuffled), DefaultDetector())
			found := false
			for _, s := range h.Series {
				total++
				if len(s.ChangePoints) > 0 {
					series++
					found = true
				}
			}
			if found {
				sequences++
			}
		}
	}
	b.ReportMetric(100*float64(sequences)/orders, "sequence-%")
	b.ReportMetric(100*float64(series)/float64(total), "series-%")
	b.ReportMetric(float64(len(runs)), "runs")
}
