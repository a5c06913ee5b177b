package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/benchharness/benchharness/dashboards"
)

func TestRunWritesEveryDashboard(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	if err := run([]string{"gen", "-out", dir}, &stderr); err != nil {
		t.Fatalf("run: %v (%s)", err, stderr.String())
	}
	files, err := dashboards.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := dashboards.Marshal(f.Dashboard)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from dashboards.Marshal", f.Name)
		}
	}
}

func TestRunFails(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"unknown flag":     {"gen", "-bogus"},
		"out is a file":    {"gen", "-out", blocker},
		"out under a file": {"gen", "-out", filepath.Join(blocker, "sub")},
	} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%s: run(%v) = nil, want an error", name, args)
		}
	}
}
