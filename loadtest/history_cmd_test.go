package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

func runHistory(args ...string) (stdout, msg string, code int) {
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"loadtest", "history"}, args...), func(string) string { return "" }, &out, &errb)
	if err != nil {
		return out.String(), err.Error(), exitCode(err)
	}
	return out.String(), errb.String(), 0
}

// copyRecorded writes real recorded runs into dir as run folders of summary.json, laid out as
// a CI artifact store (one folder per commit, runs below), each run posing as the next commit
// of a sequence an hour apart; edit changes a run before it is written.
func copyRecorded(t *testing.T, dir string, runs []string, edit func(i int, r *summary.Run)) []string {
	t.Helper()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var commits []string
	for i, src := range runs {
		r, err := summary.Read(filepath.Join(src, "summary.json.gz"))
		if err != nil {
			t.Fatal(err)
		}
		commit := fmt.Sprintf("%02dabc%035x", i, i)
		r.Env.Commit, r.Env.Dirty, r.Env.CommitTime = commit, false, t0.Add(time.Duration(i)*time.Hour)
		if edit != nil {
			edit(i, &r)
		}
		// Folder names in reverse commit order: the order must come from the commit times.
		d := filepath.Join(dir, fmt.Sprintf("artifact-%02d", len(runs)-i), "bench-results", r.ID)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := summary.Write(filepath.Join(d, "summary.json"), r); err != nil {
			t.Fatal(err)
		}
		commits = append(commits, commit)
	}
	return commits
}

func recordedRuns(t *testing.T, variant string, n int) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("..", "bench", "recordings", "*", variant, "2*"))
	if err != nil || len(dirs) < n {
		t.Fatalf("%d recorded %s runs, want %d: %v", len(dirs), variant, n, err)
	}
	return dirs[:n]
}

// TestHistoryCommand: on real recorded runs posing as 14 commits (6 unchanged, 8 with 5 ms
// added to every request), plus one run with another request rate, the command writes the three
// files, names the first slow commit as steady p50's change point, leaves the unlike run out
// with the reason, lists the INVALID run, and history.html loads nothing from the network.
func TestHistoryCommand(t *testing.T) {
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	runs := append(recordedRuns(t, "aa", 7), recordedRuns(t, "latency-5ms", 8)...)
	commits := copyRecorded(t, dir, runs, func(i int, r *summary.Run) {
		if i == 3 {
			r.Settings.Values["rate"] = "100"
		}
	})
	stdout, msg, code := runHistory("-out", out, dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	var h struct {
		Runs    int `json:"runs"`
		Commits int `json:"commits"`
		Series  []struct {
			Scenario, Metric string
			Points           []struct{ Commit string }
			ChangePoints     []struct {
				Commit string
				Index  int
				P      float64
			} `json:"change_points"`
		}
		LeftOut []struct{ Run, Commit, Reason string } `json:"left_out"`
		Invalid []struct{ Run, Scenario string }       `json:"invalid"`
	}
	b, err := os.ReadFile(filepath.Join(out, "history.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	if h.Runs != 15 || h.Commits != 14 {
		t.Errorf("%d runs of %d commits, want 15 and 14", h.Runs, h.Commits)
	}
	if len(h.LeftOut) != 1 || h.LeftOut[0].Commit != commits[3][:12] || !strings.Contains(h.LeftOut[0].Reason, "-rate: 50 vs 100") {
		t.Errorf("left out %+v, want commit %s for -rate: 50 vs 100", h.LeftOut, commits[3][:12])
	}
	// The two INVALID runs recorded: an unchanged run's steady and a slow run's shutdown.
	if len(h.Invalid) != 2 || h.Invalid[0].Scenario != "steady" || h.Invalid[0].Run != filepath.Base(runs[0]) ||
		h.Invalid[1].Scenario != "shutdown" || h.Invalid[1].Run != "20261126T191524Z" {
		t.Errorf("INVALID %+v, want steady of %s and shutdown of 20261126T191524Z", h.Invalid, filepath.Base(runs[0]))
	}
	found := false
	for _, s := range h.Series {
		if s.Scenario != "steady" || s.Metric != "p50_ms" {
			continue
		}
		if len(s.Points) != 13 { // 14 commits less the INVALID steady
			t.Errorf("steady p50 has %d points, want 13", len(s.Points))
		}
		for i, p := range s.Points[1:] {
			if p.Commit <= s.Points[i].Commit {
				t.Errorf("points out of commit order: %s after %s", p.Commit, s.Points[i].Commit)
			}
		}
		for _, c := range s.ChangePoints {
			found = found || c.Commit == commits[7][:12] && c.P < 0.01
		}
		if len(s.ChangePoints) != 1 {
			t.Errorf("steady p50 change points %+v, want one, at %s", s.ChangePoints, commits[7][:12])
		}
	}
	if !found {
		t.Errorf("no steady p50 change point at the first slow commit %s", commits[7][:12])
	}
	if !strings.Contains(stdout, "steady p50_ms +") || !strings.Contains(stdout, "at "+commits[7][:12]) {
		t.Errorf("stdout %q does not name the change", stdout)
	}
	html, err := os.ReadFile(filepath.Join(out, "history.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "src=", "href=\"http", "@import"} {
		if strings.Contains(string(html), bad) {
			t.Errorf("history.html contains %q: it must be self-contained", bad)
		}
	}
	if !strings.Contains(string(html), "<svg") || !strings.Contains(string(html), commits[7][:7]) {
		t.Errorf("history.html has no chart marking the change at %s", commits[7][:7])
	}
	mdText, err := os.ReadFile(filepath.Join(out, "history.md"))
	if err != nil || !strings.Contains(string(mdText), "-rate: 50 vs 100") {
		t.Errorf("history.md does not name the run left out (%v)", err)
	}
}

// TestHistoryCommandBadInput: each bad input exits 2 with one line saying what is wrong.
func TestHistoryCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	bad := filepath.Join(dir, "bad", "r1")
	for _, d := range []string{empty, bad} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bad, "summary.json"), []byte(`{"schema_version": 3, "scenarios": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no folder", nil, "want at least one DIR"},
		{"missing folder", []string{filepath.Join(dir, "nope")}, "does not exist"},
		{"no runs", []string{empty}, "no summary.json under"},
		{"broken summary", []string{filepath.Join(dir, "bad")}, "parse summary"},
		{"bad alpha", []string{"-alpha", "2", empty}, "-alpha must be in (0, 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, msg, code := runHistory(append([]string{"-out", filepath.Join(dir, "out")}, tt.args...)...)
			if code != 2 || !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("exit %d, %q: want 2 and one line with %q", code, msg, tt.want)
			}
		})
	}
}
