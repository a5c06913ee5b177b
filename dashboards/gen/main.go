// Command gen writes the project's Grafana dashboards (package dashboards) as JSON files that
// Grafana's file provider loads. `make dashboards` runs it; the committed output lives in
// dashboards/json/.
//
// Usage: go run ./dashboards/gen [-out DIR]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/benchharness/benchharness/dashboards"
)

func main() {
	if err := run(os.Args, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(2)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "dashboards/json", "folder the dashboard JSON files are written to")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	files, err := dashboards.All()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", *out, err)
	}
	for _, f := range files {
		data, err := dashboards.Marshal(f.Dashboard)
		if err != nil {
			return err
		}
		path := filepath.Join(*out, f.Name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		fmt.Fprintf(stderr, "wrote %s\n", path)
	}
	return nil
}
