package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/benchharness/benchharness/loadtest/cli"
)

// attackReport is the JSON line `perf attack` prints: what the harness's attacker achieved.
type attackReport struct {
	Requests  int     `json:"requests"`   // hits counted
	OK        int     `json:"ok"`         // of which succeeded
	DurationS float64 `json:"duration_s"` // the counted span
	// Rate is requests per second sent (attack.Outcome.AchievedRate), TargetRate what the pacer
	// scheduled, Throughput successes per second: the engine's own figures.
	Rate       float64 `json:"rate"`
	TargetRate float64 `json:"target_rate"`
	Throughput float64 `json:"throughput"`
	// LatenessP99Ms and LatenessMaxMs: how late hits were sent against the pacer's schedule
	// (only meaningful at a fixed rate; -1 when not measured).
	LatenessP99Ms float64 `json:"lateness_p99_ms"`
	LatenessMaxMs float64 `json:"lateness_max_ms"`
}

// attackConfig is one attack of the harness's attacker.
type attackConfig struct {
	URL      string
	Rate     float64 // hits per second; 0 is as fast as Workers allow
	Workers  int
	Duration time.Duration
	Timeout  time.Duration
	Results  string // .bin file the engine streams results to; empty: a temporary file
	// Mix sends the harness's items targeter (GETs of the items API) instead of one static
	// GET: what workers can rebuild, so P3f's two sides send the same requests.
	Mix bool
	// Fleet spreads the attack over these workers (`perf worker`, loopback): P3f.
	Fleet string
	// FleetKey is the workers' key (LOADTEST_WORKER_KEY; P3f makes one per measurement).
	FleetKey string
}

// attackCommand runs the harness's attacker once in its own process, so that its throughput
// and its peak RSS can be compared with the vegeta CLI's, and prints an attackReport.
func attackCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("attack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c attackConfig
	fs.StringVar(&c.URL, "url", "", "target URL (loopback only)")
	fs.Float64Var(&c.Rate, "rate", 0, "hits per second; 0 = maximum rate")
	fs.IntVar(&c.Workers, "workers", 16, "workers (and connections); the maximum when -rate is 0")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "attack duration")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Second, "per-request timeout")
	fs.StringVar(&c.Results, "results", "", "results file (vegeta gob); default a temporary file, removed after")
	fs.BoolVar(&c.Mix, "mix", false, "send the harness's items targeter (GETs) instead of one static GET (needed by -fleet)")
	fs.StringVar(&c.Fleet, "fleet", "", "spread the attack over these workers (perf worker), comma list of 127.0.0.1:port")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the attack to this file")
	if err := cli.Parse(fs, args); err != nil {
		return usageErrorf("attack: %v", err)
	}
	if err := checkLoopbackURL(c.URL); err != nil {
		return usageErrorf("attack: -url: %v", err)
	}
	if c.Workers < 1 || c.Duration <= 0 || c.Rate < 0 {
		return usageErrorf("attack: -workers must be ≥ 1, -duration > 0, -rate ≥ 0")
	}
	c.FleetKey = getenv("LOADTEST_WORKER_KEY")
	if err := checkFleet(c); err != nil {
		return usageErrorf("attack: -fleet: %v", err)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return usageErrorf("attack: -cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("attack: start CPU profile: %w", err)
		}
		// Stopped before the report is printed, and on every return path, so the profile is
		// complete (never skipped by an exit).
		defer pprof.StopCPUProfile()
	}
	rep, err := harnessAttack(ctx, c)
	if err != nil {
		return fmt.Errorf("attack: %w", err)
	}
	return json.NewEncoder(stdout).Encode(rep)
}
