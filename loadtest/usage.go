package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/benchharness/benchharness/loadtest/internal/redact"
)

// flagGroup is one heading of `loadtest run -h` and the flags under it, in order.
type flagGroup struct {
	title string
	names []string
}

// runFlagGroups are the headings of `loadtest run -h`. A flag no group names is listed under
// "other", so a new flag is never hidden.
func runFlagGroups() []flagGroup {
	return []flagGroup{
		{"target: what is loaded and how it is started or reached", []string{"server-bin", "server-cmd", "server-env", "server-host",
			"ready-path", "ready-timeout", "target", "admin", "token", "token-file", "signal-cmd", "signal-timeout",
			"database-url", "db-application", "otel-endpoint"}},
		{"load: the requests and their pacing", []string{"config", "profile", "targets", "held-targets", "seed", "rate", "duration",
			"warmup", "timeout", "trace-sample", "seed-items", "pool", "repeat",
			"workers", "worker-count", "workers-wait", "max-clock-uncertainty"}},
		{"scenarios: which, and each one's knobs", []string{"scenarios", "cancel-share", "cancel-delay", "cancel-timeout",
			"shutdown-duration", "shutdown-at", "hold-share", "hold-delay", "drain-timeout", "drain-delay", "short-drain-timeout", "deploy-strategy", "deploy-migrate-req",
			"ramp-from", "ramp-to", "ramp-steps", "ramp-step", "ramp-refine", "ramp-cpu-rate", "ramp-cpu-hold",
			"soak-duration", "soak-warmup", "soak-memory-limit", "soak-count-limit", "soak-p99-drift"}},
		{"checks: what passes, and where the server's side is read", []string{"slo-p99", "max-error-rate", "max-lateness",
			"max-neighbour-share", "settle", "goroutine-slack", "max-cleanup", "min-capacity", "max-gap", "fail-on-accept-queue", "metrics-url", "pprof-url", "writes-table"}},
		{"output", []string{"out", "cpu-profile", "jaeger-url", "metrics-addr", "prom-sd-file"}},
	}
}

// groupedUsage prints fs's flags under groups' headings, as flag.PrintDefaults prints each.
func groupedUsage(w io.Writer, fs *flag.FlagSet, groups []flagGroup) {
	fmt.Fprintf(w, "usage: loadtest run [flags]\n")
	var listed []string
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, name := range g.names {
			if f := fs.Lookup(name); f != nil {
				printFlag(w, f)
				listed = append(listed, name)
			}
		}
	}
	var other []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !slices.Contains(listed, f.Name) {
			other = append(other, f)
		}
	})
	if len(other) > 0 {
		fmt.Fprintf(w, "\nother:\n")
		for _, f := range other {
			printFlag(w, f)
		}
	}
}

func printFlag(w io.Writer, f *flag.Flag) {
	typ, usage := flag.UnquoteUsage(f)
	line := "  -" + f.Name
	if typ != "" {
		line += " " + typ
	}
	line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
	switch f.DefValue {
	case "", "0", "false", "0s":
	default:
		// A default read from the environment ($DATABASE_URL) may carry a password.
		line += fmt.Sprintf(" (default %s)", redact.String(f.DefValue))
	}
	fmt.Fprintln(w, line)
}
