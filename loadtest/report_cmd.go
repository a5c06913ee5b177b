package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/cli"
	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/redact"
	"github.com/benchharness/benchharness/loadtest/internal/report"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

const reportUsage = `usage: loadtest report DIR
       loadtest report -results a.bin,b.bin -out DIR [-name NAME] [flags]

The first form re-renders DIR/report.md and DIR/report.html from DIR/summary.json.
The second merges the vegeta results of several attacker processes into one client-side
summary.json + report.md + report.html in DIR (exit 1 when its checks fail).`

// reportOptions are the report subcommand's flags.
type reportOptions struct {
	results      string
	out          string
	name         string
	rate         float64
	jaegerURL    string
	sloP99       time.Duration
	maxErrorRate float64
	slowestN     int
}

// reportCommand re-renders a run folder, or merges results files into a new one.
func reportCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var o reportOptions
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors come back as one usage line, not flag's multi-line dump
	fs.StringVar(&o.results, "results", "", "comma list of vegeta results files to merge (several attacker processes)")
	fs.StringVar(&o.out, "out", "", "run folder to write the merged summary and reports to (with -results)")
	fs.StringVar(&o.name, "name", "merged", "scenario name of the merged results")
	fs.Float64Var(&o.rate, "rate", 0, "combined target rate of the attackers in requests/s (0: unknown)")
	fs.StringVar(&o.jaegerURL, "jaeger-url", getenv("JAEGER_URL"), "base URL for trace links (default $JAEGER_URL)")
	fs.DurationVar(&o.sloP99, "slo-p99", 0, "p99 latency SLO checked on the merged results (0: not checked)")
	fs.Float64Var(&o.maxErrorRate, "max-error-rate", 0.01, "highest error ratio that passes, in [0,1]")
	fs.IntVar(&o.slowestN, "slowest", attack.DefaultSlowestN, "how many slowest requests to list")
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, reportUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil
		}
		return usageErrorf("report: %v", err)
	}

	if o.results == "" {
		if fs.NArg() != 1 || o.out != "" {
			return usageErrorf("report: want one run folder (loadtest report DIR) or -results FILES -out DIR")
		}
		return rerender(fs.Arg(0), stdout)
	}
	switch {
	case fs.NArg() != 0:
		return usageErrorf("report: -results takes no folder argument (use -out DIR), got %q", fs.Arg(0))
	case o.out == "":
		return usageErrorf("report: -results needs -out DIR")
	case o.rate < 0:
		return usageErrorf("report: -rate %v must be ≥ 0", o.rate)
	case o.sloP99 < 0:
		return usageErrorf("report: -slo-p99 %v must be ≥ 0", o.sloP99)
	case o.maxErrorRate < 0 || o.maxErrorRate > 1:
		return usageErrorf("report: -max-error-rate %v must be in [0,1]", o.maxErrorRate)
	case o.slowestN < 0:
		return usageErrorf("report: -slowest %d must be ≥ 0", o.slowestN)
	}
	return merge(o, stdout)
}

// rerender rewrites report.md and report.html of dir from its summary.json alone.
func rerender(dir string, stdout io.Writer) error {
	run, err := summary.Read(filepath.Join(dir, "summary.json"))
	if err != nil {
		return usageErrorf("report: %v", err)
	}
	if err := writeReports(dir, run); err != nil {
		return err
	}
	if err := report.Table(stdout, run); err != nil {
		return fmt.Errorf("report: table: %w", err)
	}
	fmt.Fprintf(stdout, "reports: %s\n", filepath.Join(dir, "report.html"))
	return nil
}

// merge aggregates several results files into one client-side run folder.
func merge(o reportOptions, stdout io.Writer) error {
	var paths []string
	for _, p := range strings.Split(o.results, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return usageErrorf("report: -results %q names no file", o.results)
	}
	slowest := o.slowestN
	if slowest == 0 {
		slowest = -1 // attack.Merge reads 0 as its default
	}
	out, err := attack.Merge(paths, attack.MergeOptions{Scenario: o.name, TargetRate: o.rate, JaegerURL: o.jaegerURL, SlowestN: slowest})
	if err != nil {
		return usageErrorf("report: %v", err)
	}
	if out.Requests == 0 {
		return usageErrorf("report: %s hold no results", strings.Join(paths, ", "))
	}

	sc := summary.Scenario{
		Name:        o.name,
		Description: fmt.Sprintf("client-side results of %d attacker processes, merged (intended-time latency unknown: each process had its own schedule)", len(paths)),
	}
	out.Fill(&sc)
	sc.Files = map[string]string{"results": strings.Join(paths, ",")}
	sc.Checks = append(sc.Checks, summary.NewCheck(summary.Correctness, "error ratio", sc.ErrorRatio <= o.maxErrorRate,
		fmt.Sprintf("≤ %.2f%%", 100*o.maxErrorRate), fmt.Sprintf("%.2f%%", 100*sc.ErrorRatio)))
	if o.sloP99 > 0 {
		sc.Checks = append(sc.Checks, summary.NewCheck(summary.Performance, "p99 latency", sc.Latency.P99 <= summary.Ms(o.sloP99),
			fmt.Sprintf("≤ %s", o.sloP99), fmt.Sprintf("%.2f ms", sc.Latency.P99)))
	}
	sc.Verdict, sc.Reasons = summary.Judge(sc.Checks)

	run := summary.Run{
		SchemaVersion: summary.SchemaVersion,
		ID:            filepath.Base(filepath.Clean(o.out)),
		StartedAt:     out.StartedAt,
		FinishedAt:    out.StartedAt.Add(out.Duration),
		Env: summary.Environment{
			GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, NumCPU: runtime.NumCPU(),
			JaegerURL: o.jaegerURL, ManagedBy: "external",
		},
		Settings: summary.Settings{
			Profile: "merge", Scenarios: []string{o.name},
			SLOP99Ms: float64(o.sloP99) / float64(time.Millisecond), MaxErrorRate: o.maxErrorRate,
			Values: map[string]string{"results": strings.Join(paths, ",")},
		},
		Scenarios: []summary.Scenario{sc},
	}
	if o.rate > 0 {
		run.Settings.Rates = map[string]float64{o.name: o.rate}
	}
	run.Verdict = summary.Overall(run.Scenarios)
	run = redact.Value(run) // a -jaeger-url with a password, say

	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return usageErrorf("report: %v", err)
	}
	if err := summary.Write(filepath.Join(o.out, "summary.json"), run); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := writeReports(o.out, run); err != nil {
		return err
	}
	if err := report.Table(stdout, run); err != nil {
		return fmt.Errorf("report: table: %w", err)
	}
	fmt.Fprintf(stdout, "reports: %s\n", filepath.Join(o.out, "report.html"))
	if run.Verdict != summary.Pass {
		return verdictError{fmt.Sprintf("merged results %s: %s", run.Verdict, strings.Join(sc.Reasons, "; "))}
	}
	return nil
}

// writeReports renders report.md and report.html into dir (report.WriteFiles).
func writeReports(dir string, run summary.Run) error { return report.WriteFiles(dir, run) }
