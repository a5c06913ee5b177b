// Package report renders a bench run's summary (loadtest/internal/summary.Run) for people: the
// verdict table printed by `loadtest run`, report.md for a PR comment or CI job summary, and
// report.html, one self-contained file with plots.
//
// Every writer reads only the summary, so `loadtest report DIR` re-renders a run folder exactly.
package report

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/benchharness/benchharness/loadtest/internal/atomicfile"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// files are the reports of a run folder, by file name: what WriteFiles writes.
var files = []struct {
	name   string
	render func(io.Writer, summary.Run) error
}{
	{"report.md", Markdown},
	{"report.html", HTML},
}

// WriteFiles renders report.md and report.html of r into dir, each atomically, so a failed
// render never leaves half a report over a good one. `loadtest run` and `loadtest report` both
// write through it.
func WriteFiles(dir string, r summary.Run) error {
	for _, f := range files {
		if err := atomicfile.Write(filepath.Join(dir, f.name), func(w io.Writer) error { return f.render(w, r) }); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	return nil
}
