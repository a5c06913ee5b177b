package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/cli"
	"github.com/benchharness/benchharness/loadtest/internal/fleet"
	"github.com/benchharness/benchharness/loadtest/internal/lifeline"
)

const workerUsage = `usage: LOADTEST_WORKER_KEY=KEY loadtest worker -listen ADDR

Serves the control API of one load generator: a coordinator (loadtest run -workers ADDR,...)
sends it its share of each attack and a start time, and it streams the results back. It never
starts an attack on its own, and answers only a coordinator holding its key: the environment's
LOADTEST_WORKER_KEY, at least 32 bytes (make one with: openssl rand -hex 32). On a loopback
address it may run without one: it then makes a key and prints it once, as its second line
LOADTEST_WORKER_KEY=.... The first line it prints is the address it listens on.

A plan must stay within the harness's bounds (rate, duration, warm-up, timeouts, workers,
shards; docs/distributed.md); one outside them is refused with the reason.`

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
	if err := cli.Parse(fs, args); err != nil {
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
	made := o.Key == "" && isLoopback(ln.Addr())
	if made {
		if o.Key, err = fleet.NewKey(); err != nil {
			ln.Close()
			return fmt.Errorf("worker: %w", err)
		}
	}
	w, err := fleet.NewWorker(o)
	if err != nil {
		ln.Close()
		if o.Key == "" {
			return usageErrorf("worker: %v (or listen on a loopback address, where it makes one)", err)
		}
		return usageErrorf("worker: %v", err)
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(fleet.WorkerGCPercent)
	}
	srv := w.Server()
	fmt.Fprintf(stdout, "%s\n", ln.Addr())
	if made {
		// Printed once, to stdout (the log is stderr): whoever started this process holds it.
		fmt.Fprintf(stdout, "LOADTEST_WORKER_KEY=%s\n", o.Key)
	}
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

// isLoopback reports whether a listener's address is reachable from this machine only.
func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
