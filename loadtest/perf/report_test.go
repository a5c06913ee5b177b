package main

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func sampleResults() *Results {
	p1 := &Figure{ID: "P1", Name: "server / pgbench", A: "server", B: "pgbench", Unit: "×", Target: Target{">=", 0.7}}
	p1.Add(Sample{A: 700, B: 1000, Value: 0.7})
	p1.Add(Sample{A: 600, B: 1000, Value: 0.6})
	p1.Add(Sample{A: 800, B: 1000, Value: 0.8})
	p4 := &Figure{ID: "P4b", Name: "cancel → query gone, p99", A: "cancel", Unit: "ms", Target: Target{"<=", 250}, Notes: "A note."}
	p4.Add(Sample{A: 4, Value: 4})
	flaky := &Figure{ID: "P2a", Name: "traced / off", A: "traced", B: "off", Unit: "×", Target: Target{">=", 0.75}}
	for _, v := range []float64{0.9, math.NaN(), 0.8, math.NaN(), 0.85} {
		flaky.Add(Sample{A: v, B: 1, Value: v})
	}
	gone := &Figure{ID: "P3a", Name: "harness / vegeta", A: "h", B: "v", Unit: "×", Target: Target{">=", 0.95}}
	gone.Add(Sample{A: 1, B: 0, Value: math.NaN()})
	r := &Results{
		SchemaVersion: schemaVersion,
		Started:       time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC),
		Finished:      time.Date(2026, 11, 25, 3, 10, 0, 0, time.UTC),
		Host:          Host{Cores: 2, GoVersion: "go1.26", Load1At: 1.5, Load1End: 2.25},
		Settings:      Settings{Rounds: 3, PoolMaxConns: 8},
		Figures:       []*Figure{p1, flaky, gone, p4},
		Findings:      []string{"A finding."},
		Allocs:        []AllocBench{{"BenchmarkListItems-2", 6, 16000, 171}},
		AllocsFile:    "allocs.txt",
		Errors:        []string{"P3: no vegeta"},
	}
	for _, f := range r.Figures {
		f.Summarize()
	}
	return r
}

func TestMarkdownGolden(t *testing.T) {
	var b strings.Builder
	sampleResults().Markdown(&b)
	golden := filepath.Join("testdata", "perf.md.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if b.String() != string(want) {
		t.Errorf("perf.md differs from %s (go test -update rewrites it):\n%s", golden, b.String())
	}
}

func TestMissingAndRender(t *testing.T) {
	r := sampleResults()
	if got := strings.Join(r.Missing(), ","); got != "P3a" {
		t.Errorf("Missing = %q, want P3a", got)
	}
	if got := strings.Join(r.TooManyFailed(), ","); got != "P2a" {
		t.Errorf("TooManyFailed = %q, want P2a (P3a, not produced, is listed by Missing)", got)
	}
	dir := t.TempDir()
	if err := r.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := renderCommand([]string{dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| P1 server / pgbench | 0.7 × | 0.6 – 0.8 | 3 | 0 | ≥ 0.7 × | pass |",
		"| P2a traced / off | 0.85 × | 0.8 – 0.9 | 3 | 2 | ≥ 0.75 × | FAIL: too many failed rounds |",
		"| P3a harness / vegeta | – | – | 0 | 1 | ≥ 0.95 × | NOT PRODUCED |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("rendered table lacks %q:\n%s", want, out.String())
		}
	}
}

// TestWriteFilesBytes: the atomic writes leave the same bytes perf wrote before (indented JSON
// with a final newline, the Markdown) and no temporary file beside them.
func TestWriteFilesBytes(t *testing.T) {
	r := sampleResults()
	dir := t.TempDir()
	if err := r.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	js, _ := json.MarshalIndent(r, "", "  ")
	var md strings.Builder
	r.Markdown(&md)
	for name, want := range map[string]string{"perf.json": string(js) + "\n", "perf.md": md.String()} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s: %v; differs from the direct encoding", name, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("dir holds %d entries, want perf.json and perf.md only", len(ents))
	}
}
