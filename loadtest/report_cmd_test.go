package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

func runReport(args ...string) (stdout string, err error) {
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"loadtest", "report"}, args...), func(string) string { return "" }, &out, &errOut)
	return out.String(), err
}

func TestReportCommandRerender(t *testing.T) {
	dir := t.TempDir()
	run := summary.Run{ID: "20261125T021400Z", Verdict: summary.Pass, StartedAt: time.Unix(1_764_000_000, 0).UTC(),
		Scenarios: []summary.Scenario{{Name: "steady", Verdict: summary.Pass, Requests: 1234, TargetRate: 100, AchievedRate: 100}}}
	if err := summary.Write(filepath.Join(dir, "summary.json"), run); err != nil {
		t.Fatal(err)
	}
	out, err := runReport(dir)
	if err != nil {
		t.Fatalf("report %s: %v", dir, err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(md), "steady") || !strings.Contains(string(html), "steady") || !strings.Contains(out, "steady") {
		t.Fatalf("reports do not name the scenario: md %d bytes, html %d bytes, stdout %q", len(md), len(html), out)
	}

	// It renders from summary.json alone: change the summary, the report follows.
	run.Scenarios[0].Verdict, run.Verdict = summary.Fail, summary.Fail
	run.Scenarios[0].Reasons = []string{"p99 above the SLO"}
	if err := summary.Write(filepath.Join(dir, "summary.json"), run); err != nil {
		t.Fatal(err)
	}
	if _, err := runReport(dir); err != nil {
		t.Fatal(err)
	}
	md2, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if bytes.Equal(md, md2) || !strings.Contains(string(md2), "FAIL") {
		t.Errorf("report.md did not follow summary.json's new verdict:\n%s", md2)
	}
}

// TestReportCommandMerge merges two attackers' results: the merged summary counts both, and the
// merged p99 is what vegeta's decoder computes over the same files.
func TestReportCommandMerge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.bin"), filepath.Join(dir, "b.bin")
	for i, p := range []string{a, b} {
		if _, err := attack.Attack(context.Background(), attack.Config{
			Scenario: "part", Pacer: vegeta.ConstantPacer{Freq: 20 + 10*i, Per: time.Second}, Duration: time.Second,
			Targeter: attack.NewTargeter(attack.TargetOptions{BaseURL: srv.URL, Seed: int64(i), Requests: []vegeta.Target{{Method: "GET", URL: "http://svc/"}}}), ResultsPath: p,
		}); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "merged")
	stdout, err := runReport("-results", a+","+b, "-out", out, "-name", "two", "-rate", "50", "-jaeger-url", "http://admin:"+secret+"@127.0.0.1:16686")
	if err != nil {
		t.Fatalf("merge: %v", err)
	}
	if files := secretFiles(t, out); len(files) > 0 || strings.Contains(stdout, secret) {
		t.Errorf("the -jaeger-url password is in %v or stdout", files)
	}
	got, err := summary.Read(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Scenarios) != 1 || got.Scenarios[0].Name != "two" || got.Scenarios[0].Requests < 48 || got.Verdict != summary.Pass {
		t.Fatalf("merged summary: %+v", got.Scenarios)
	}
	var m vegeta.Metrics
	for _, p := range []string{a, b} { // round robin is what `vegeta report a b` does; check count only here
		f, _ := os.Open(p)
		dec := vegeta.NewDecoder(f)
		for {
			var r vegeta.Result
			if dec.Decode(&r) != nil {
				break
			}
			m.Add(&r)
		}
		f.Close()
	}
	if int64(m.Requests) != got.Scenarios[0].Requests {
		t.Errorf("files hold %d results, merged summary %d", m.Requests, got.Scenarios[0].Requests)
	}
	if _, err := os.Stat(filepath.Join(out, "report.html")); err != nil || !strings.Contains(stdout, "two") {
		t.Errorf("no report.html or table: %v, stdout %q", err, stdout)
	}

	// An SLO below the real latency fails the merged verdict: exit 1.
	_, err = runReport("-results", a+","+b, "-out", filepath.Join(dir, "slo"), "-slo-p99", "1us")
	if code := exitCode(err); err == nil || code != 1 {
		t.Errorf("merge with a 1µs SLO: err %v (exit %d), want a failed verdict (exit 1)", err, code)
	}
}

func TestReportCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.bin")
	os.WriteFile(junk, []byte("not vegeta results"), 0o644)
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	// A good results file, so that the flag checks, not the decoder, must reject the bad flags.
	good := filepath.Join(dir, "good.bin")
	f, err := os.Create(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := vegeta.NewEncoder(f).Encode(&vegeta.Result{Code: 200, Timestamp: time.Now(), Latency: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := runReport("-results", good, "-out", filepath.Join(dir, "ok")); err != nil {
		t.Fatalf("the good file does not merge: %v", err)
	}
	tests := []struct {
		name string
		args []string
	}{
		{"no folder", nil},
		{"two folders", []string{dir, dir}},
		{"folder without summary", []string{empty}},
		{"unknown flag", []string{"-bogus", dir}},
		{"results without out", []string{"-results", junk}},
		{"junk results", []string{"-results", junk, "-out", filepath.Join(dir, "o")}},
		{"missing results", []string{"-results", filepath.Join(dir, "nope.bin"), "-out", filepath.Join(dir, "o")}},
		{"empty results list", []string{"-results", ",", "-out", filepath.Join(dir, "o")}},
		{"bad error rate", []string{"-results", good, "-out", filepath.Join(dir, "o"), "-max-error-rate", "2"}},
		{"negative rate", []string{"-results", good, "-out", filepath.Join(dir, "o"), "-rate", "-1"}},
		{"negative slo", []string{"-results", good, "-out", filepath.Join(dir, "o"), "-slo-p99", "-1s"}},
		{"results and a folder", []string{"-results", good, "-out", filepath.Join(dir, "o"), dir}},
		{"rerender with -out", []string{"-out", filepath.Join(dir, "o"), dir}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runReport(tt.args...)
			if err == nil || exitCode(err) != 2 {
				t.Fatalf("report %q: err %v (exit %d), want a usage error (exit 2)", tt.args, err, exitCode(err))
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || msg == "" {
				t.Errorf("usage error is not one line: %q", msg)
			}
		})
	}
}

// TestReportResultsAbsurdTimestamps merges a results file whose sends span from 1970 to now (a
// corrupt or forged file): the built binary, its address space capped so that a window per
// second would fail rather than swap the machine, exits 2 saying why.
func TestReportResultsAbsurdTimestamps(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "forged.bin")
	f, err := os.Create(bin)
	if err != nil {
		t.Fatal(err)
	}
	enc := vegeta.NewEncoder(f)
	for _, at := range []time.Time{time.Unix(1, 0), time.Now()} {
		if err := enc.Encode(&vegeta.Result{Attack: "forged", Code: 200, Timestamp: at, Latency: time.Millisecond, Method: "GET", URL: "http://127.0.0.1/"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	loadtest := build(t, "github.com/benchharness/benchharness/loadtest")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", `ulimit -v 4000000 && exec "$0" report -results "$1" -out "$2"`, loadtest, bin, filepath.Join(dir, "out"))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "a timestamp is wrong") || strings.Count(strings.TrimSpace(string(out)), "\n") > 0 {
		t.Fatalf("report -results of a 1970–now file: %v; want exit 2 and one line saying a timestamp is wrong:\n%.2000s", err, out)
	}
}
