package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/atomicfile"
)

// schemaVersion of perf.json; bump it when a field changes meaning.
const schemaVersion = 1

// Results is everything one perf run measured: perf.json, and perf.md rendered from it alone.
type Results struct {
	SchemaVersion int       `json:"schema_version"`
	Started       time.Time `json:"started"`
	Finished      time.Time `json:"finished"`
	Smoke         bool      `json:"smoke"`
	Host          Host      `json:"host"`
	Settings      Settings  `json:"settings"`
	Figures       []*Figure `json:"figures"`
	// Findings are what the profiles showed, one line each.
	Findings []string `json:"findings,omitempty"`
	// Allocs are the API routes' allocation benchmarks (go test -benchmem, real handler and
	// PostgreSQL); AllocsFile is their raw output, for benchstat.
	Allocs     []AllocBench `json:"allocs,omitempty"`
	AllocsFile string       `json:"allocs_file,omitempty"`
	// Errors are measurements that could not be made (their figures are not produced).
	Errors []string `json:"errors,omitempty"`
}

// Host says what the figures were measured on. The load averages show how shared it was.
type Host struct {
	Cores     int     `json:"cores"`
	GoVersion string  `json:"go_version"`
	Load1At   float64 `json:"load1_start"`
	Load1End  float64 `json:"load1_end"`
}

// Figure returns the figure with id, nil when there is none.
func (r *Results) Figure(id string) *Figure {
	for _, f := range r.Figures {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// Missing lists the figures that were not produced.
func (r *Results) Missing() []string {
	var ids []string
	for _, f := range r.Figures {
		if !f.Produced {
			ids = append(ids, f.ID)
		}
	}
	return ids
}

// TooManyFailed lists the figures of which more than one round in five failed.
func (r *Results) TooManyFailed() []string {
	var ids []string
	for _, f := range r.Figures {
		if f.Produced && f.TooManyFailed() {
			ids = append(ids, f.ID)
		}
	}
	return ids
}

// WriteFiles writes perf.json and perf.md into dir, each whole or not at all (atomicfile): a
// run interrupted while writing leaves the previous files, never half of one.
func (r *Results) WriteFiles(dir string) error {
	if err := atomicfile.WriteJSON(filepath.Join(dir, "perf.json"), r); err != nil {
		return fmt.Errorf("write perf results: %w", err)
	}
	err := atomicfile.Write(filepath.Join(dir, "perf.md"), func(w io.Writer) error {
		r.Markdown(w)
		return nil
	})
	if err != nil {
		return fmt.Errorf("write perf results: %w", err)
	}
	return nil
}

// Table writes the P1–P5 table (Markdown, readable as plain text too).
func (r *Results) Table(w io.Writer) {
	fmt.Fprintln(w, "| figure | measured (median) | min – max | rounds | failed rounds | target | result |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, f := range r.Figures {
		result := "miss"
		switch {
		case !f.Produced:
			result = "NOT PRODUCED"
		case f.TooManyFailed() && f.Target.Op == "":
			result = "context, too many failed rounds"
		case f.TooManyFailed():
			result = "FAIL: too many failed rounds"
		case f.Target.Op == "":
			result = "context"
		case f.Pass:
			result = "pass"
		}
		measured, span := "–", "–"
		if f.Produced {
			measured = trim(f.Median) + " " + f.Unit
			span = trim(f.Min) + " – " + trim(f.Max)
		}
		target := f.Target.String()
		if f.Target.Op != "" {
			target += " " + f.Unit
		}
		fmt.Fprintf(w, "| %s %s | %s | %s | %d | %d | %s | %s |\n",
			f.ID, f.Name, measured, span, f.Rounds, f.Failed, target, result)
	}
}

// Markdown renders perf.md from r alone.
func (r *Results) Markdown(w io.Writer) {
	kind := "full run"
	if r.Smoke {
		kind = "SMOKE run (short rounds: checks that every figure is produced, not the targets)"
	}
	fmt.Fprintf(w, "# Performance: P1–P5 (%s)\n\n", kind)
	fmt.Fprintf(w, "Measured %s – %s UTC on %d cores, %s, load average %.2f at start and %.2f at end. "+
		"Other builds and tests may share this machine (the load averages show how busy it was): absolute rates drift, "+
		"which is why every figure is a ratio (or difference) of two measurements interleaved "+
		"round by round (A B A B), median with min–max.\n\n",
		r.Started.UTC().Format("2006-01-02 15:04:05"), r.Finished.UTC().Format("15:04:05"),
		r.Host.Cores, r.Host.GoVersion, r.Host.Load1At, r.Host.Load1End)
	r.Table(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Figures")
	for _, f := range r.Figures {
		fmt.Fprintf(w, "\n### %s %s\n\n", f.ID, f.Name)
		if f.B != "" {
			fmt.Fprintf(w, "- A: %s\n- B: %s\n", f.A, f.B)
		} else {
			fmt.Fprintf(w, "- measured: %s\n", f.A)
		}
		if len(f.Samples) > 0 {
			var rounds []string
			for _, s := range f.Samples {
				if f.B != "" {
					rounds = append(rounds, fmt.Sprintf("%s/%s→%s", trim(s.A), trim(s.B), trim(s.Value)))
				} else {
					rounds = append(rounds, trim(s.Value))
				}
			}
			fmt.Fprintf(w, "- rounds: %s\n", strings.Join(rounds, ", "))
		}
		if f.Notes != "" {
			fmt.Fprintf(w, "- notes: %s\n", f.Notes)
		}
	}
	if len(r.Findings) > 0 {
		fmt.Fprintln(w, "\n## Profile findings")
		fmt.Fprintln(w)
		for _, s := range r.Findings {
			fmt.Fprintf(w, "- %s\n", s)
		}
	}
	if len(r.Allocs) > 0 {
		fmt.Fprintln(w, "\n## Allocations per request (API routes, real handler and PostgreSQL)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| benchmark | runs | B/op (median) | allocs/op (median) |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, b := range r.Allocs {
			fmt.Fprintf(w, "| %s | %d | %.0f | %.0f |\n", b.Name, b.Runs, b.BytesPerOp, b.AllocsPerOp)
		}
		fmt.Fprintf(w, "\nRaw output: `%s`; compare a later run with `benchstat OLD NEW`.\n", r.AllocsFile)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\n## Errors")
		fmt.Fprintln(w)
		for _, s := range r.Errors {
			fmt.Fprintf(w, "- %s\n", s)
		}
	}
	fmt.Fprintln(w, "\n## Settings")
	fmt.Fprintln(w)
	b, _ := json.MarshalIndent(r.Settings, "", "  ")
	fmt.Fprintf(w, "```json\n%s\n```\n", b)
}
