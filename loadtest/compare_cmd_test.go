package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// fixtureRun is one run with a "steady" scenario (or the given names) of 30 windows whose
// latencies are drawn around p50/p99 plus extra ms.
func fixtureRun(rng *rand.Rand, id string, extraMs float64, verdict summary.Verdict, names ...string) summary.Run {
	if len(names) == 0 {
		names = []string{"steady"}
	}
	r := summary.Run{SchemaVersion: summary.SchemaVersion, ID: id, Env: summary.Environment{Commit: "c0ffee", NumCPU: 2},
		Settings: summary.Settings{Profile: "quick"}}
	for _, n := range names {
		sc := summary.Scenario{Name: n, Verdict: verdict, Server: summary.ServerStats{GoroutinesPeak: 40, SettleMs: 200}}
		if verdict == summary.Fail {
			sc.Reasons = []string{"1 accepted request lost"}
		}
		for i := 0; i < 30; i++ {
			sc.Windows = append(sc.Windows, summary.Window{StartMs: float64(i) * 1000, Requests: 100, Throughput: 100,
				P50: 2*math.Exp(rng.NormFloat64()*0.1) + extraMs, P99: 8*math.Exp(rng.NormFloat64()*0.25) + extraMs})
		}
		r.Scenarios = append(r.Scenarios, sc)
	}
	r.Verdict = summary.Overall(r.Scenarios)
	return r
}

func writeRun(t *testing.T, dir string, r summary.Run) string {
	t.Helper()
	d := filepath.Join(dir, r.ID)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := summary.Write(filepath.Join(d, "summary.json"), r); err != nil {
		t.Fatal(err)
	}
	return d
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCompare(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"loadtest", "compare"}, args...), func(string) string { return "" }, &out, &errb)
	if err != nil {
		return out.String(), err.Error(), exitCode(err)
	}
	return out.String(), errb.String(), 0
}

// TestCompareCommandBadInput covers every exit-2 path: each must say what is wrong in one line.
func TestCompareCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	good := writeRun(t, filepath.Join(dir, "good"), fixtureRun(rng, "g1", 0, summary.Pass))
	other := writeRun(t, filepath.Join(dir, "other"), fixtureRun(rng, "o1", 0, summary.Pass, "ramp"))
	unlike := fixtureRun(rng, "u1", 0, summary.Pass)
	unlike.Settings.Profile = "default"
	unlikeDir := writeRun(t, filepath.Join(dir, "unlike"), unlike)
	procs := fixtureRun(rng, "p1", 0, summary.Pass)
	procs.Env.GOMAXPROCS, procs.Settings.Values = 1, map[string]string{"rate": "50"}
	procsDir := writeRun(t, filepath.Join(dir, "procs"), procs)
	procs2 := fixtureRun(rng, "p2", 0, summary.Pass)
	procs2.Env.GOMAXPROCS, procs2.Settings.Values = 2, map[string]string{"rate": "50"}
	procs2Dir := writeRun(t, filepath.Join(dir, "procs2"), procs2)
	badJSON := writeFile(t, filepath.Join(dir, "badjson", "summary.json"), `{"schema_version": 1, "scenarios": [`)
	v2 := writeFile(t, filepath.Join(dir, "v2", "summary.json"), `{"schema_version": 99, "scenarios": []}`)
	empty := filepath.Join(dir, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	badTh := writeFile(t, filepath.Join(dir, "th-bad.json"), `{"metrics": {"p99": {"max_change_pct": 5}}}`)
	badThJSON := writeFile(t, filepath.Join(dir, "th-badjson.json"), `{"metrics": `)
	out := filepath.Join(dir, "out")

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"-out", out, filepath.Join(dir, "nope"), good}, "base: " + filepath.Join(dir, "nope") + " does not exist"},
		{"missing current", []string{"-out", out, good, filepath.Join(dir, "nope")}, "current: "},
		{"bad JSON", []string{"-out", out, good, badJSON}, "parse summary"},
		{"schema version mismatch", []string{"-out", out, v2, good}, "has schema_version 99, this build reads 1 to 3"},
		{"folder without runs", []string{"-out", out, empty, good}, "holds no summary.json"},
		{"no common scenarios", []string{"-out", out, good, other}, "no scenario in common"},
		{"another profile", []string{"-out", out, good, unlikeDir}, "refused unlike runs, not measured like base run g1: current run u1 (profile: quick vs default)"},
		{"another GOMAXPROCS", []string{"-out", out, procsDir, procs2Dir}, "current run p2 (GOMAXPROCS: 1 vs 2)"},
		{"unknown threshold metric", []string{"-out", out, "-thresholds", badTh, good, good}, `unknown metric "p99"`},
		{"bad thresholds JSON", []string{"-out", out, "-thresholds", badThJSON, good, good}, "parse thresholds"},
		{"missing thresholds file", []string{"-out", out, "-thresholds", filepath.Join(dir, "none.json"), good, good}, "read thresholds"},
		{"one argument", []string{good}, "want BASE and CURRENT"},
		{"unknown flag", []string{"-bogus", good, good}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, msg, code := runCompare(tt.args...)
			if code != 2 {
				t.Fatalf("exit %d (%q), want 2", code, msg)
			}
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("message %q: want one line containing %q", msg, tt.want)
			}
			if stdout != "" {
				t.Errorf("printed a report on bad input: %q", stdout)
			}
		})
	}
}

// TestCompareCommandVerdicts runs the command end to end on run folders: A/A passes, +5 ms
// regresses with exit 1 naming the metric, and a FAIL in CURRENT exits 1 even against a failing
// base. Files are written to -out and the report is printed.
func TestCompareCommandVerdicts(t *testing.T) {
	tests := []struct {
		name        string
		baseVerdict summary.Verdict
		curVerdict  summary.Verdict
		extraMs     float64
		code        int
		want        string // in the exit message or, for exit 0, in stdout
	}{
		{"A/A", summary.Pass, summary.Pass, 0, 0, "**No significant change in what these runs could see; they could not have seen a change of the limit's size in "},
		{"+5 ms", summary.Pass, summary.Pass, 5, 1, "steady p50_ms +"},
		{"failure in current", summary.Fail, summary.Fail, 0, 1, "FAIL: 4 correctness failures in current"},
		{"INVALID in current", summary.Pass, summary.Invalid, 0, 2, "cannot judge: 4 of 4 current runs INVALID"},
		{"failure only in base", summary.Fail, summary.Pass, 0, 0, "**No significant change"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			var base, cur []string
			for r := 0; r < 4; r++ { // interleaved, as make regress does
				base = append(base, writeRun(t, filepath.Join(dir, "runs"), fixtureRun(rng, fmt.Sprintf("a%d", r), 0, tt.baseVerdict)))
				cur = append(cur, writeRun(t, filepath.Join(dir, "runs"), fixtureRun(rng, fmt.Sprintf("b%d", r), tt.extraMs, tt.curVerdict)))
			}
			out := filepath.Join(dir, "out")
			stdout, msg, code := runCompare("-out", out, strings.Join(base, ","), strings.Join(cur, ","))
			if code != tt.code {
				t.Fatalf("exit %d (%s), want %d", code, msg, tt.code)
			}
			where := msg
			if code == 0 {
				where = stdout
			}
			if !strings.Contains(where, tt.want) {
				t.Errorf("want %q in %q", tt.want, where)
			}
			md, err := os.ReadFile(filepath.Join(out, "compare.md"))
			if err != nil {
				t.Fatal(err)
			}
			if string(md) != stdout {
				t.Errorf("stdout is not compare.md")
			}
			var js struct {
				Outcome string `json:"outcome"`
				Base    []any  `json:"base"`
			}
			b, err := os.ReadFile(filepath.Join(out, "compare.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &js); err != nil {
				t.Fatal(err)
			}
			if len(js.Base) != 4 || (code == 0) != (js.Outcome == "PASS") {
				t.Errorf("compare.json: outcome %q with %d base runs, exit %d", js.Outcome, len(js.Base), code)
			}
		})
	}
}

// TestCompareCommandFolderOfRuns passes a folder of run folders (with a latest symlink, which
// must not count twice) and a summary.json file directly. Three runs against one could not have
// seen any change: INCONCLUSIVE, exit 2, with the runs each metric needs.
func TestCompareCommandFolderOfRuns(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 9))
	var last string
	for r := 0; r < 3; r++ {
		last = writeRun(t, filepath.Join(dir, "base"), fixtureRun(rng, fmt.Sprintf("r%d", r), 0, summary.Pass))
	}
	if err := os.Symlink(last, filepath.Join(dir, "base", "latest")); err != nil {
		t.Fatal(err)
	}
	cur := writeRun(t, filepath.Join(dir, "cur"), fixtureRun(rng, "c1", 0, summary.Pass))
	out := filepath.Join(dir, "out")
	_, msg, code := runCompare("-q", "-out", out, "-base-label", "abc123 (merge-base)", filepath.Join(dir, "base"), filepath.Join(cur, "summary.json"))
	if code != 2 || !strings.Contains(msg, "cannot judge: 6 of 6 metrics: steady p50_ms (") {
		t.Fatalf("exit %d: %s; want 2, cannot judge, with the runs needed", code, msg)
	}
	b, err := os.ReadFile(filepath.Join(out, "compare.json"))
	if err != nil {
		t.Fatal(err)
	}
	var js struct {
		Base      []struct{ ID string } `json:"base"`
		BaseLabel string                `json:"base_label"`
	}
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatal(err)
	}
	if js.BaseLabel != "abc123 (merge-base)" {
		t.Errorf("base_label %q, want the -base-label given", js.BaseLabel)
	}
	if len(js.Base) != 3 {
		t.Errorf("base has %d runs, want 3 (latest must not count twice): %+v", len(js.Base), js.Base)
	}
}

// TestCompareCommandOutputAndCommits: without -out, compare.md and compare.json go beside
// CURRENT (not into the working directory, where they would be untracked files in a
// repository), stderr says where, and the runs table names the commits given.
func TestCompareCommandOutputAndCommits(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 5))
	for r := 0; r < 4; r++ {
		writeRun(t, filepath.Join(dir, "regress", "base"), fixtureRun(rng, fmt.Sprintf("a%d", r), 0, summary.Pass))
		writeRun(t, filepath.Join(dir, "regress", "current"), fixtureRun(rng, fmt.Sprintf("b%d", r), 0, summary.Pass))
	}
	cwd := filepath.Join(dir, "cwd")
	if err := os.Mkdir(cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(cwd)
	stdout, stderr, code := runCompare("-base-commit", "1111111111111111", "-current-commit", "2222222222222222 dirty",
		filepath.Join(dir, "regress", "base"), filepath.Join(dir, "regress", "current"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if des, _ := os.ReadDir(cwd); len(des) != 0 {
		t.Errorf("compare wrote %d files into the working directory", len(des))
	}
	want := filepath.Join(dir, "regress", "compare.md")
	if _, err := os.Stat(want); err != nil {
		t.Errorf("no compare.md beside CURRENT: %v", err)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr %q does not say where compare.md is (%s)", stderr, want)
	}
	for _, w := range []string{"| base | `a0` | 111111111111 |", "| current | `b0` | 222222222222 (dirty) |"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("runs table lacks %q", w)
		}
	}
}

// TestCompareCommandProfileDiff: on real recorded runs with BENCH_EXTRA_CPU on the current side,
// compare.md says where the CPU went, names burnCPU first, writes the merged profiles and prints
// the pprof command that opens them.
func TestCompareCommandProfileDiff(t *testing.T) {
	rec := func(variant string) string {
		dirs, err := filepath.Glob(filepath.Join("..", "bench", "recordings", "*", variant))
		if err != nil || len(dirs) == 0 {
			t.Fatalf("no recordings of %s (bench/record.sh): %v", variant, err)
		}
		return strings.Join(dirs, ",")
	}
	out := t.TempDir()
	stdout, msg, code := runCompare("-out", out, rec("aa"), rec("cpu-2ms"))
	if code == 0 {
		t.Fatalf("exit 0 with 2 ms of CPU burnt per request: %s", msg)
	}
	section := stdout[strings.Index(stdout, "## Where the CPU time went"):]
	if i := strings.Index(section, "| `"); i < 0 || !strings.HasPrefix(section[i:], "| `github.com/benchharness/benchharness/server/internal/httpapi.burnCPU`") {
		t.Errorf("burnCPU does not top the flat list:\n%s", section)
	}
	cmd := "go tool pprof -top -diff_base=" + filepath.Join(out, "base.steady.cpu.pprof") + " " + filepath.Join(out, "current.steady.cpu.pprof")
	if !strings.Contains(stdout, cmd) {
		t.Errorf("compare.md lacks %q", cmd)
	}
	for _, f := range []string{"base.steady.cpu.pprof", "current.steady.cpu.pprof"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("merged profile: %v", err)
		}
	}
}
