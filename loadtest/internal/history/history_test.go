package history

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/compare"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// sessions returns the recording folders bench/record.sh made, one per recorded commit. Runs of
// different sessions are not alike enough to pose as one A/A history: the commits differ, and
// so does the machine's hour.
func sessions(tb testing.TB) []string {
	tb.Helper()
	dirs, err := filepath.Glob(filepath.Join("..", "..", "..", "bench", "recordings", "*"))
	if err != nil || len(dirs) == 0 {
		tb.Fatalf("no recordings under bench/recordings: %v", err)
	}
	return dirs
}

// recorded reads the real runs one session recorded of one variant.
func recorded(tb testing.TB, session, variant string) []compare.Input {
	tb.Helper()
	runs, err := Load([]string{filepath.Join(session, variant)})
	if err != nil {
		tb.Fatal(err)
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
// 16 commits, have no change point in any figure of any scenario, and that its INVALID
// scenarios are listed; every recorded session alike.
func TestRealAASequence(t *testing.T) {
	for _, session := range sessions(t) {
		t.Run(filepath.Base(session), func(t *testing.T) {
			runs := recorded(t, session, "aa")
			if len(runs) < 16 {
				t.Fatalf("%d unchanged recorded runs, want 16", len(runs))
			}
			var invalid int
			for _, r := range runs {
				for _, sc := range r.Run.Scenarios {
					if sc.Verdict == summary.Invalid {
						invalid++
					}
				}
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
			if len(h.Invalid) != invalid {
				t.Errorf("INVALID runs %+v, want the %d recorded", h.Invalid, invalid)
			}
		})
	}
}

// TestRealStep takes, in each recorded session, 8 unchanged runs then 8 with 5 ms added to every request, as 16 commits, and
// checks that the change point of steady's p50 is at the first slow commit, and the size is the
// 5 ms.
func TestRealStep(t *testing.T) {
	for _, session := range sessions(t) {
		t.Run(filepath.Base(session), func(t *testing.T) {
			aa, slow := recorded(t, session, "aa"), recorded(t, session, "latency-5ms")
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
		})
	}
}

// TestUnlikeRunsLeftOut checks that a run of another profile and one with another GOMAXPROCS are
// kept out of the series and named with what differs; the others still make the series.
func TestUnlikeRunsLeftOut(t *testing.T) {
	runs := sequence(recorded(t, sessions(t)[0], "aa")[:8])
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
// unchanged runs recorded in one session (each session alone), in 200 seeded random orders, each order posing as a
// sequence of 16 commits. It reports the share of sequences with any change point in any of
// their series (sequence-%) and the share of series with one (series-%). The orders share
// their runs, so they are not independent samples; the rate is of this session's noise.
//
//	go test ./loadtest/internal/history -run '^$' -bench RealAA -benchtime 1x
func BenchmarkRealAAChangePoints(b *testing.B) {
	for _, session := range sessions(b) {
		b.Run(filepath.Base(session), func(b *testing.B) { realAAChangePoints(b, recorded(b, session, "aa")) })
	}
}

func realAAChangePoints(b *testing.B, runs []compare.Input) {
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
