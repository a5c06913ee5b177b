package compare

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Input is one run read from disk.
type Input struct {
	Path string // the summary.json file
	Dir  string // the run folder (the file's folder)
	Run  summary.Run
}

// LoadSide reads one side of a comparison. spec is a comma-separated list of entries; each
// entry is a summary.json file, a run folder (holding summary.json), or a folder of run folders
// (every direct subfolder holding a summary.json, in name order; symlinks such as
// bench-results/latest are skipped so that no run counts twice).
func LoadSide(spec string) ([]Input, error) {
	var paths []string
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := resolve(entry)
		if err != nil {
			return nil, err
		}
		paths = append(paths, p...)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no summary.json in %q", spec)
	}
	seen := map[string]bool{}
	var out []Input
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", p, err)
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		if seen[abs] {
			continue
		}
		seen[abs] = true
		r, err := readRun(p)
		if err != nil {
			return nil, err
		}
		out = append(out, Input{Path: p, Dir: filepath.Dir(p), Run: r})
	}
	return out, nil
}

func resolve(entry string) ([]string, error) {
	fi, err := os.Stat(entry)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist", entry)
		}
		return nil, fmt.Errorf("stat %s: %w", entry, err)
	}
	if !fi.IsDir() {
		return []string{entry}, nil
	}
	if p, ok := summaryIn(entry); ok {
		return []string{p}, nil
	}
	des, err := os.ReadDir(entry)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", entry, err)
	}
	var found []string
	for _, de := range des {
		if !de.IsDir() { // a symlink's DirEntry is not a dir: latest → newest is skipped here
			continue
		}
		if p, ok := summaryIn(filepath.Join(entry, de.Name())); ok {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s holds no summary.json and no run folders with one", entry)
	}
	sort.Strings(found)
	return found, nil
}

// summaryIn finds a run folder's summary: summary.json, or summary.json.gz as recordings keep it.
func summaryIn(dir string) (string, bool) {
	for _, name := range []string{"summary.json", "summary.json.gz"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// readRun reads a summary.json or summary.json.gz.
func readRun(path string) (summary.Run, error) { return summary.Read(path) }
