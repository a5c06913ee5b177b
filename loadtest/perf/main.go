// Command perf measures the items server and the harness against references run side by side on
// the same machine (issue #6): P1 server vs pgbench, P2 the price of tracing, P3 the harness's
// attacker vs the vegeta CLI and wrk, P4 shutdown and cancel costs. Every figure is a ratio (or a
// difference) of two measurements interleaved round by round, reported as median, min and max,
// and written to perf.json and perf.md. scripts/perf.sh installs the tools and runs it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGINT/SIGTERM cancel ctx: every child process is stopped and what was measured is written.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "perf:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `usage: perf <command> [flags]

commands:
  run      measure P1–P4 and write perf.json + perf.md into -out (needs DATABASE_URL)
  render   re-render perf.md from a perf.json and print the table
  trivial  serve the trivial endpoint P3 attacks (prints its address)
  bare     serve GET /api/v1/items as a bare chi+pgx handler, P1's calibration (prints its address)
  attack   run the harness's attacker once and print a JSON line (used by run for P3)

'perf <command> -h' lists a command's flags.`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return usageErrorf("%s", usage)
	}
	switch cmd, rest := args[1], args[2:]; cmd {
	case "run":
		return runCommand(ctx, rest, getenv, stdout, stderr)
	case "render":
		return renderCommand(rest, stdout, stderr)
	case "trivial":
		return trivialCommand(ctx, rest, stdout, stderr)
	case "bare":
		return bareCommand(ctx, rest, getenv, stdout, stderr)
	case "attack":
		return attackCommand(ctx, rest, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return usageErrorf("unknown command %q (want run, render, trivial, bare or attack)", cmd)
	}
}

// usageError is bad input or a set-up failure: exit code 2 with a one-line reason.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }
