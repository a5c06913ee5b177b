package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/fleet"
	"github.com/benchharness/benchharness/loadtest/internal/lifeline"
)

const workerUsage = `usage: loadtest worker -listen ADDR

Serves the control API of one load generator: a coordinator (loadtest run -workers ADDR,...)
sends it its share of each attack and a start time, and it streams the results back. It never
starts an attack on its own. With LOADTEST_WORKER_KEY set, it takes requests only from a
coordinator with the same key. The first line it prints is the address it listens on.`

// workerCommand is `loadtest worker`: it serves until SIGINT/SIGTERM, then stops the attack
// that runs (its results still reach the coordinator) and exits.
func workerCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		listen string
		parent int
		o      fleet.WorkerOptions
	)
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&listen, "listen", "", "address of the control API, e.g. :7070 or 127.0.0.1:0 (required)")
	fs.IntVar(&parent, "parent-pid", 0, "die with the process of this PID, the worker's parent (a script's $$): no worker outlives the run that started it (Linux; 0: off)")
	// Test-only settings, left out of -h: they make a healthy worker look broken.
	fs.DurationVar(&o.ClockSkew, "test-clock-skew", 0, "test only: the worker's clock reads this much ahead")
	fs.DurationVar(&o.Lag, "test-lag", 0, "test only: every send waits this much longer than the pacer asks")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, workerUsage)
			fs.SetOutput(stdout)
			fs.VisitAll(func(f *flag.Flag) {
				if !strings.HasPrefix(f.Name, "test-") {
					fmt.Fprintf(stdout, "  -%s\n    \t%s\n", f.Name, f.Usage)
				}
			})
			return nil
		}
		return usageErrorf("worker: %v", err)
	}
	switch {
	case fs.NArg() > 0:
		return usageErrorf("worker: unexpected argument %q", fs.Arg(0))
	case listen == "":
		return usageErrorf("worker: -listen is required (e.g. -listen :7070)")
	case o.Lag < 0:
		return usageErrorf("worker: -test-lag must be ≥ 0")
	}
	if parent != 0 {
		if err := lifeline.ExitWithParent(parent); err != nil {
			return usageErrorf("worker: -parent-pid: %v", err)
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return usageErrorf("worker: %v", err)
	}
	o.Key, o.Log = getenv("LOADTEST_WORKER_KEY"), stderr
	if getenv("GOGC") == "" {
		debug.SetGCPercent(fleet.WorkerGCPercent)
	}
	w := fleet.NewWorker(o)
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "%s\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("worker: %w", err)
	case <-ctx.Done():
	}
	// The attack that runs ends with its last results sent; then the server drains.
	w.Stop()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("worker: shut down: %w", err)
	}
	<-done
	return nil
}
