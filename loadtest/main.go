// Command loadtest runs load scenarios against the items server, judges them, and writes
// reports and regression comparisons. See docs/contracts.md for the run folder and exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/benchharness/benchharness/loadtest/cli"
)

// main: SIGINT and SIGTERM cancel run's context; each subcommand stops its attack, keeps what it
// has and writes a partial report before returning.
func main() { cli.Main("loadtest", run, exitCode) }

const usage = `usage: loadtest <command> [flags]

commands:
  run       run scenarios against a server it starts or a running one, write a run folder
  report    re-render the reports of a run folder (merging several attackers' results)
  compare   compare two runs (or two sets of runs) and judge regressions
  history   order many run folders by commit and find where each figure changed
  worker    serve one load generator of a distributed run (loadtest run -workers)

'loadtest <command> -h' lists a command's flags.`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return usageErrorf("%s", usage)
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "run":
		return runCommand(ctx, rest, getenv, stdout, stderr)
	case "report":
		return reportCommand(ctx, rest, getenv, stdout, stderr)
	case "compare":
		return compareCommand(ctx, rest, getenv, stdout, stderr)
	case "history":
		return historyCommand(ctx, rest, getenv, stdout, stderr)
	case "worker":
		return workerCommand(ctx, rest, getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return usageErrorf("unknown command %q (want run, report, compare, history or worker)", cmd)
	}
}

// usageErrorf is bad input or a set-up failure: exit code 2 with a one-line reason.
func usageErrorf(format string, a ...any) error { return cli.Usagef(format, a...) }

// verdictError is a run or comparison whose verdict failed (or was invalid or interrupted):
// exit code 1. Its message is the one-line reason.
type verdictError struct{ reason string }

func (e verdictError) Error() string { return e.reason }

func exitCode(err error) int {
	var ve verdictError
	switch {
	case cli.IsUsage(err):
		return 2
	case errors.As(err, &ve):
		return 1
	default:
		return 2
	}
}
