// Package cli is what the harness's commands (loadtest and loadtest/perf) share around their run
// function: main's signal handling and exit, and the usage error that exits with code 2.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"syscall"

	"github.com/benchharness/benchharness/loadtest/internal/redact"
)

// Run is a command's whole behaviour; main does nothing but call it through Main.
type Run func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Main calls run with the process's arguments, environment and output. SIGINT and SIGTERM
// cancel run's context, so that it stops what it started and writes what it has before it
// returns (no os.Exit skips its defers); a second one stops waiting for that. An error is
// printed as "name: reason", credentials redacted (an error may quote a connection string),
// and exits with exitCode(err).
func Main(name string, run Run, exitCode func(error) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal the default action is back: a second one ends the process at
	// once, and the kernel kills the children it started (package lifeline).
	interrupted := context.AfterFunc(ctx, func() {
		stop()
		fmt.Fprintln(os.Stderr, name+": stopping, writing what it has (interrupt again to stop at once)")
	})
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	interrupted()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", redact.String(err.Error()))
		os.Exit(exitCode(err))
	}
}

// UsageError is bad input or a set-up failure: exit code 2 with a one-line reason.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted reason (%w wraps as in fmt.Errorf).
func Usagef(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }

// IsUsage reports whether err is, or wraps, a UsageError.
func IsUsage(err error) bool {
	var ue UsageError
	return errors.As(err, &ue)
}

// ExitCode is 2 for a usage error and 1 for any other failure.
func ExitCode(err error) int {
	if IsUsage(err) {
		return 2
	}
	return 1
}

// Parse parses args into fs, then refuses NaN and ±Inf in every float flag that was set:
// strconv.ParseFloat takes them, and a range check such as `x < 0 || x > 1` lets NaN through,
// since every comparison with NaN is false. flag.ErrHelp comes back as fs.Parse gives it.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok || err != nil {
			return
		}
		if x, ok := g.Get().(float64); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
			err = fmt.Errorf("-%s %s: want a finite number", f.Name, f.Value)
		}
	})
	return err
}
