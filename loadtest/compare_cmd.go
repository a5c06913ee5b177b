package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/benchharness/benchharness/loadtest/cli"
	"github.com/benchharness/benchharness/loadtest/internal/compare"
)

const compareUsage = `usage: loadtest compare [flags] BASE CURRENT

BASE and CURRENT are each a run folder, a summary.json, a folder of run folders, or a comma list
of those (a summary.json may be gzipped: summary.json.gz); several runs on a side are pooled.
Writes compare.md (also printed) and compare.json into -out, by default the folder that holds
CURRENT (its first entry), and says where on stderr.
Exit 0: no significant regression; 1: a metric is significantly worse beyond its threshold or a
scenario failed its checks in CURRENT; 2: bad input, unlike runs (another profile, load setting,
machine kind or GOMAXPROCS), or cannot judge: a run has an INVALID scenario (its figures describe
a generator that fell behind), or the runs could not have seen a change of the limit's size in
any metric, or in one whose thresholds set require_power (INCONCLUSIVE, with the runs needed).

flags:`

// compareCommand judges CURRENT against BASE and writes compare.md and compare.json.
func compareCommand(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, compareUsage)
		fs.PrintDefaults()
	}
	out := fs.String("out", "", "folder to write compare.md and compare.json into (created if missing); default: the folder that holds CURRENT")
	thresholdsPath := fs.String("thresholds", "", "thresholds JSON file (per metric max_change_pct, min_abs_change, alpha); empty: built-in defaults")
	quiet := fs.Bool("q", false, "do not print compare.md to stdout")
	baseLabel := fs.String("base-label", "", "names the base side in the report, e.g. its commit (default: the commits the runs recorded)")
	currentLabel := fs.String("current-label", "", "names the current side in the report")
	baseCommit := fs.String("base-commit", "", "commit the base runs' server was built from, for the runs table (default: the commit each run recorded, its harness's)")
	currentCommit := fs.String("current-commit", "", `the same for the current runs; "SHA dirty" for a working tree with uncommitted changes`)
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageErrorf("compare: %v", err)
	}
	if fs.NArg() != 2 {
		return usageErrorf("compare: want BASE and CURRENT, got %d argument(s) (loadtest compare -h)", fs.NArg())
	}

	th := compare.DefaultThresholds()
	if *thresholdsPath != "" {
		t, err := compare.LoadThresholds(*thresholdsPath)
		if err != nil {
			return usageErrorf("compare: %v", err)
		}
		th = t
	}
	base, err := compare.LoadSide(fs.Arg(0))
	if err != nil {
		return usageErrorf("compare: base: %v", err)
	}
	current, err := compare.LoadSide(fs.Arg(1))
	if err != nil {
		return usageErrorf("compare: current: %v", err)
	}
	res, err := compare.Compare(base, current, th)
	if err != nil {
		return usageErrorf("compare: %v", err)
	}
	if *out == "" {
		*out = besideCurrent(fs.Arg(1))
	}
	res.LinkReports(base, current, *out)
	res.BaseLabel, res.CurrentLabel = *baseLabel, *currentLabel
	res.NameCommits(*baseCommit, *currentCommit)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return usageErrorf("compare: create output folder: %v", err)
	}
	diff, merged, err := compare.DiffProfiles(base, current)
	if err != nil {
		// The profile diff explains a verdict; it never makes one. A bad profile is reported.
		res.Notes = append(res.Notes, "no CPU profile diff: "+err.Error())
	} else if diff != nil {
		if err := diff.WriteProfiles(*out, merged); err != nil {
			return fmt.Errorf("compare: %w", err)
		}
		res.ProfileDiff = diff
	}

	var md, js bytes.Buffer
	if err := compare.WriteMarkdown(&md, res); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	if err := compare.WriteJSON(&js, res); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	for name, b := range map[string][]byte{"compare.md": md.Bytes(), "compare.json": js.Bytes()} {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			return usageErrorf("compare: write %s: %v", name, err)
		}
	}
	if !*quiet {
		if _, err := stdout.Write(md.Bytes()); err != nil {
			return fmt.Errorf("compare: print report: %w", err)
		}
	}
	fmt.Fprintf(stderr, "compare: wrote %s and compare.json\n", filepath.Join(*out, "compare.md"))
	if res.Outcome == compare.Unjudged || res.Outcome == compare.Underpowered {
		return usageErrorf("compare: %s", res.Headline)
	}
	if res.Outcome != compare.OK {
		return verdictError{reason: "compare: " + strings.ToUpper(string(res.Outcome)) + ": " + res.Headline}
	}
	return nil
}

// besideCurrent is the default output folder: the one that holds CURRENT's first entry (for a
// summary.json, the folder that holds its run folder), so that a comparison run in the
// repository leaves no untracked files in the working directory.
func besideCurrent(spec string) string {
	first := strings.TrimSpace(strings.Split(spec, ",")[0])
	if fi, err := os.Stat(first); err == nil && !fi.IsDir() {
		first = filepath.Dir(first)
	}
	return filepath.Dir(filepath.Clean(first))
}
