package runfolder

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

func TestNewNeverReusesAFolder(t *testing.T) {
	out := t.TempDir()
	seen := map[string]bool{}
	for range 3 {
		f, err := New(out)
		if err != nil {
			t.Fatal(err)
		}
		if seen[f.ID] {
			t.Fatalf("folder %s handed out twice", f.ID)
		}
		seen[f.ID] = true
		if st, err := os.Stat(f.Dir); err != nil || !st.IsDir() {
			t.Fatalf("%s: not a directory: %v", f.Dir, err)
		}
	}
}

func TestWriteLinksLatest(t *testing.T) {
	out := t.TempDir()
	var last Folder
	for range 2 {
		f, err := New(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Write(summary.Run{ID: f.ID, Verdict: summary.Pass}); err != nil {
			t.Fatal(err)
		}
		last = f
	}
	target, err := os.Readlink(filepath.Join(out, "latest"))
	if err != nil || target != last.ID {
		t.Fatalf("latest -> %q (%v), want %q", target, err, last.ID)
	}
	for _, name := range []string{"summary.json", "report.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(last.Dir, name)); err != nil {
			t.Errorf("%s missing: %v", name, err)
		}
	}
}

func TestWriteStability(t *testing.T) {
	out := t.TempDir()
	if dir, err := WriteStability(out, nil, io.Discard); err != nil || dir != "" {
		t.Fatalf("no runs: dir %q, err %v; want nothing written", dir, err)
	}
	runs := []summary.Run{{ID: "a", Verdict: summary.Pass}, {ID: "b", Verdict: summary.Pass}}
	var printed strings.Builder
	dir, err := WriteStability(out, runs, &printed)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(out, "stability-a"); dir != want {
		t.Fatalf("dir %q, want %q", dir, want)
	}
	md, err := os.ReadFile(filepath.Join(dir, "stability.md"))
	if err != nil || string(md) != printed.String() {
		t.Fatalf("stability.md differs from what was printed (%v)", err)
	}
}
