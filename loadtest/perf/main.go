// Command perf measures the items server and the harness against references run side by side on
// the same machine: P1 the server vs a bare chi+pgx handler and pgbench, P2 the price of
// tracing, P3 the harness's attacker vs the vegeta CLI and wrk, P4 shutdown and cancel costs,
// P5 the sampler's cost to the server. Every figure is a ratio (or a difference) of two
// measurements interleaved round by round, reported as median, min and max, and written to
// perf.json and perf.md. scripts/perf.sh installs the tools and runs it.
package main

import (
	"context"
	"fmt"
	"io"

	"github.com/benchharness/benchharness/loadtest/cli"
)

// main: SIGINT/SIGTERM cancel run's context: every child process is stopped and what was
// measured is written.
func main() { cli.Main("perf", run, cli.ExitCode) }

const usage = `usage: perf <command> [flags]

commands:
  run      measure P1–P5 and write perf.json + perf.md into -out (needs DATABASE_URL)
  render   re-render perf.md from a perf.json and print the table
  trivial  serve the trivial endpoint P3 attacks (prints its address)
  bare     serve GET /api/v1/items as a bare chi+pgx handler, P1's calibration (prints its address)
  attack   run the harness's attacker once and print a JSON line (used by run for P3)
  floor    send at a fixed rate with the least a Go client can do, print a JSON line (P3g's reference)
  worker   serve one load generator of a spread attack (prints its address; used by run for P3f)
  pgclient run the page query through pgx from N connections, print rate and PostgreSQL CPU per query (P1b)

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
		return attackCommand(ctx, rest, getenv, stdout, stderr)
	case "floor":
		return floorCommand(ctx, rest, stdout, stderr)
	case "worker":
		return workerCommand(ctx, rest, getenv, stdout, stderr)
	case "pgclient":
		return pgclientCommand(ctx, rest, getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return usageErrorf("unknown command %q (want run, render, trivial, bare, attack, floor, worker or pgclient)", cmd)
	}
}

// usageErrorf is bad input or a set-up failure: exit code 2 with a one-line reason.
func usageErrorf(format string, a ...any) error { return cli.Usagef(format, a...) }
