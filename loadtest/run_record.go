package main

import (
	"flag"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/machine"
	"github.com/benchharness/benchharness/loadtest/internal/redact"
	"github.com/benchharness/benchharness/loadtest/internal/scenario"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// What a run folder records about the run: the machine and build, and the settings.

// environment describes this run's machine and build.
func environment(o runOptions) summary.Environment {
	env := summary.Environment{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		NumCPU: runtime.NumCPU(), ManagedBy: "external", Target: o.target, Admin: o.admin,
		CPUModel: machine.CPUModel(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	// The started server inherits this process's GOMAXPROCS unless -server-env sets its own.
	for _, kv := range o.serverEnv {
		if v, ok := strings.CutPrefix(kv, "GOMAXPROCS="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				env.GOMAXPROCS = n
			}
		}
	}
	if o.target == "" {
		env.ManagedBy, env.Target, env.Admin = "harness", "per-scenario server on free loopback ports", ""
		if o.serverHost != "127.0.0.1" {
			env.Target = "per-scenario server on free ports of " + o.serverHost
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				env.Commit = s.Value
			case "vcs.modified":
				env.Dirty = s.Value == "true"
			case "vcs.time":
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					env.CommitTime = t.UTC()
				}
			}
		}
	}
	return env
}

func settingsOf(s scenario.Settings, o runOptions, scs []scenario.Scenario, fs *flag.FlagSet) summary.Settings {
	out := summary.Settings{Profile: o.profile, Seed: s.Seed, TraceSample: s.TraceSample,
		SLOP99Ms: float64(s.SLOP99) / float64(time.Millisecond), MaxErrorRate: s.MaxErrorRate,
		Values: map[string]string{}, Rates: map[string]float64{}}
	for _, sc := range scs {
		out.Scenarios = append(out.Scenarios, sc.Name)
		switch sc.Name {
		case "ramp":
			out.Rates[sc.Name] = s.Ramp.To
		default:
			out.Rates[sc.Name] = s.Rate
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "token": // a secret: never in a report
			return
		case "server-env": // each K=V on its own: a secret's value may hold a comma
			out.Values[f.Name] = strings.Join(redact.Each(o.serverEnv, o.token), ",")
			return
		}
		out.Values[f.Name] = redact.String(f.Value.String(), o.token)
	})
	return out
}
