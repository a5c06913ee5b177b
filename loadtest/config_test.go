package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunConfig: a -config file sets flags by name, the command line wins over it, and a key
// that is no flag or a file that is not YAML is bad input. Each case ends at the first
// validation error, which shows which value won.
func TestRunConfig(t *testing.T) {
	tests := []struct {
		name   string
		config string
		args   []string
		want   string
	}{
		{"applied", "rate: 0\n", nil, "-rate must be > 0"},
		{"the command line wins", "rate: 0\n", []string{"-rate", "5"}, "no database"},
		{"durations as strings", "database-url: postgres://x\ncancel-timeout: 10s\n", nil, "-cancel-delay (3s) must be longer than -cancel-timeout (10s)"},
		{"a repeatable flag as a list", "server-env: [A=1, NOEQUALS]\n", nil, `server-env: want K=V, got "NOEQUALS"`},
		{"profile from the file", "profile: huge\n", nil, `unknown -profile "huge"`},
		{"unknown key", "rates: 5\n", nil, `unknown key "rates"`},
		{"not YAML", "rate: [\n", nil, "-config"},
		{"a map", "rate: {a: 1}\n", nil, "want a value or a list, got a map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "run.yaml")
			if err := os.WriteFile(path, []byte(tt.config), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := runRun(context.Background(), noEnv, append([]string{"-config", path, "-out", t.TempDir()}, tt.args...)...)
			if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run = %v (exit %d), want exit 2 with %q", err, exitCode(err), tt.want)
			}
		})
	}
}

// TestRunHelpGroups: `loadtest run -h` lists every flag once, under the groups in order, and a
// flag no group names under "other" rather than not at all.
func TestRunHelpGroups(t *testing.T) {
	var out, errb strings.Builder
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return "postgres://bench:hunter2-s3cret@127.0.0.1:5432/items?sslmode=disable"
		}
		return ""
	}
	if err := run(context.Background(), []string{"loadtest", "run", "-h"}, env, &out, &errb); err != nil {
		t.Fatal(err)
	}
	help := errb.String()
	if strings.Contains(help+out.String(), "hunter2-s3cret") {
		t.Errorf("-h prints $DATABASE_URL's password:\n%s", help)
	}
	last := -1
	for _, g := range runFlagGroups() {
		i := strings.Index(help, "\n"+g.title+":\n")
		if i < 0 || i < last {
			t.Fatalf("group %q missing or out of order in:\n%s", g.title, help)
		}
		last = i
	}
	if strings.Contains(help, "\nother:\n") {
		t.Errorf("flags outside every group:\n%s", help[strings.Index(help, "\nother:\n"):])
	}
	for _, name := range []string{"server-cmd", "targets", "rate", "hold-delay", "slo-p99", "out", "config"} {
		if n := strings.Count(help, "\n  -"+name+" "); n != 1 {
			t.Errorf("-%s listed %d times, want once", name, n)
		}
	}
}
