// Package runfolder owns the layout of a run's output directory: out/<id>/ holding summary.json
// and the reports, the out/latest link, and out/stability-<first id>/ for repeated runs.
package runfolder

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/atomicfile"
	"github.com/benchharness/benchharness/loadtest/internal/report"
	"github.com/benchharness/benchharness/loadtest/internal/stability"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Folder is one run's directory, out/ID.
type Folder struct {
	Out, ID, Dir string
}

// New creates out/<UTC time>, or out/<UTC time>-2, -3, ... when a run of the same second has it
// already (-repeat of scenarios that were all skipped).
func New(out string) (Folder, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return Folder{}, fmt.Errorf("create run folder: %w", err)
	}
	base := time.Now().UTC().Format("20060102T150405Z")
	for n := 1; ; n++ {
		id := base
		if n > 1 {
			id = fmt.Sprintf("%s-%d", base, n)
		}
		dir := filepath.Join(out, id)
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return Folder{Out: out, ID: id, Dir: dir}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return Folder{}, fmt.Errorf("create run folder: %w", err)
		}
	}
}

// Write writes summary.json and the reports, then points out/latest at this folder.
func (f Folder) Write(run summary.Run) error {
	if err := summary.Write(filepath.Join(f.Dir, "summary.json"), run); err != nil {
		return err
	}
	if err := report.WriteFiles(f.Dir, run); err != nil {
		return err
	}
	f.linkLatest()
	return nil
}

// linkLatest is best effort: a report is complete without the link.
func (f Folder) linkLatest() {
	tmp := filepath.Join(f.Out, ".latest.tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(f.ID, tmp); err != nil {
		return
	}
	_ = os.Rename(tmp, filepath.Join(f.Out, "latest"))
}

// WriteStability writes stability.md and stability.json of repeated runs into
// out/stability-<first run>/, prints the Markdown to w and returns the folder.
func WriteStability(out string, runs []summary.Run, w io.Writer) (string, error) {
	if len(runs) == 0 {
		return "", nil
	}
	rep := stability.Summarize(runs)
	dir := filepath.Join(out, "stability-"+runs[0].ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("stability: %w", err)
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, "stability.json"), rep); err != nil {
		return "", fmt.Errorf("stability: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, "stability.md"), func(w io.Writer) error { return stability.Markdown(w, rep) }); err != nil {
		return "", fmt.Errorf("stability: %w", err)
	}
	if err := stability.Markdown(w, rep); err != nil {
		return "", err
	}
	return dir, nil
}
