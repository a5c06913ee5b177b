package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/benchharness/benchharness/loadtest/cli"
	"github.com/benchharness/benchharness/loadtest/internal/history"
)

const historyUsage = `usage: loadtest history [flags] DIR...

Reads every run folder under the DIRs (any depth: a CI artifact store, bench-results/; a
summary.json or summary.json.gz in each), orders the runs by commit time, and writes
history.html, history.md and history.json into -out: per scenario and key figure the series
across commits (the median of each commit's runs), the change points found (E-divisive means
with a permutation test: the commit, the size, the p-value), the runs left out because they were
not measured like the others (profile, load settings, machine kind, GOMAXPROCS), and the INVALID
ones. Exit 0 whatever it found; 2 on bad input.

flags:`

// historyCommand writes the run history of the folders given.
func historyCommand(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, historyUsage)
		fs.PrintDefaults()
	}
	d := history.DefaultDetector()
	out := fs.String("out", ".", "folder to write history.html, history.md and history.json into (created if missing)")
	fs.Float64Var(&d.Alpha, "alpha", d.Alpha, "a change point is kept when its permutation p-value is below this")
	fs.IntVar(&d.Permutations, "permutations", d.Permutations, "shuffles per permutation test")
	fs.IntVar(&d.MinSize, "min-commits", d.MinSize, "fewest commits on either side of a change point")
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageErrorf("history: %v", err)
	}
	if fs.NArg() == 0 {
		return usageErrorf("history: want at least one DIR (loadtest history -h)")
	}
	if !(d.Alpha > 0 && d.Alpha < 1) || d.Permutations < 1 || d.MinSize < 2 {
		return usageErrorf("history: -alpha must be in (0, 1), -permutations ≥ 1 and -min-commits ≥ 2")
	}
	runs, err := history.Load(fs.Args())
	if err != nil {
		return usageErrorf("history: %v", err)
	}
	h := history.Build(runs, d)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return usageErrorf("history: create output folder: %v", err)
	}
	if err := history.WriteFiles(*out, h); err != nil {
		return usageErrorf("%v", err)
	}
	fmt.Fprintln(stdout, history.Headline(h))
	fmt.Fprintf(stderr, "history: wrote history.html, history.md and history.json in %s\n", *out)
	return nil
}
