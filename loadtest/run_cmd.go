package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/benchharness/benchharness/loadtest/internal/progress"
	"github.com/benchharness/benchharness/loadtest/internal/promexport"
	"github.com/benchharness/benchharness/loadtest/internal/report"
	"github.com/benchharness/benchharness/loadtest/internal/scenario"
	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// profiles are the preset knobs: default fits in 3 minutes on a 2-core machine, quick in 45 s
// (CI smoke). Every value can be overridden by its flag.
var profiles = map[string]scenario.Settings{
	"default": {
		Rate: 100, Duration: 20 * time.Second, Warmup: 3 * time.Second, Timeout: 5 * time.Second,
		SLOP99: 100 * time.Millisecond, MaxErrorRate: 0.01, PostShare: 0.2, TraceSample: 0.1, SlowestN: 10,
		Settle: time.Second, GoroutineSlack: 5, SampleEvery: 100 * time.Millisecond, CPUProfile: 5 * time.Second,
		CancelShare: 0.05, CancelDelay: 3 * time.Second, CancelTimeout: 100 * time.Millisecond,
		ShutdownDuration: 8 * time.Second, ShutdownAt: 4 * time.Second, HoldShare: 0.05, HoldDelay: time.Second,
		DrainTimeout: 5 * time.Second, DrainDelay: 300 * time.Millisecond, ShortDrainTimeout: 200 * time.Millisecond,
		RampFrom: 100, RampTo: 6400, RampSteps: 12, RampStep: 3 * time.Second,
	},
	"quick": {
		Rate: 50, Duration: 5 * time.Second, Warmup: time.Second, Timeout: 5 * time.Second,
		SLOP99: 100 * time.Millisecond, MaxErrorRate: 0.01, PostShare: 0.2, TraceSample: 0.1, SlowestN: 10,
		Settle: time.Second, GoroutineSlack: 5, SampleEvery: 100 * time.Millisecond, CPUProfile: 2 * time.Second,
		CancelShare: 0.05, CancelDelay: 3 * time.Second, CancelTimeout: 100 * time.Millisecond,
		ShutdownDuration: 4 * time.Second, ShutdownAt: 1500 * time.Millisecond, HoldShare: 0.05, HoldDelay: time.Second,
		DrainTimeout: 5 * time.Second, DrainDelay: 300 * time.Millisecond, ShortDrainTimeout: 200 * time.Millisecond,
		RampFrom: 100, RampTo: 1600, RampSteps: 3, RampStep: 2 * time.Second,
	},
}

// runOptions are run's flags that are not scenario settings.
type runOptions struct {
	profile     string
	scenarios   string
	target      string
	admin       string
	token       string
	serverBin   string
	serverEnv   envList
	databaseURL string
	out         string
	otel        string
	metricsAddr string
	promSDFile  string
	seedItems   int
	seedFlag    int64
}

// envList is a repeatable K=V flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, ",") }
func (e *envList) Set(v string) error {
	k, _, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want K=V, got %q", v)
	}
	*e = append(*e, v)
	return nil
}

// runCommand is `loadtest run`: it starts (or targets) the server, runs the scenarios, writes the
// run folder and prints the verdict table.
func runCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	profileName := preScan(args, "profile", "default")
	set, ok := profiles[profileName]
	if !ok {
		return usageErrorf("run: unknown -profile %q (want default or quick)", profileName)
	}
	o := runOptions{profile: profileName}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.profile, "profile", profileName, "preset durations and rates: default (≤ 3 min) or quick (≤ 45 s)")
	fs.StringVar(&o.scenarios, "scenarios", "", "comma list of scenarios (default: every default one; shutdown-short-drain by name only)")
	fs.StringVar(&o.target, "target", "", "API base URL of a running server (external mode; needs -admin and -token)")
	fs.StringVar(&o.admin, "admin", "", "admin base URL of the running server (external mode)")
	fs.StringVar(&o.token, "token", "", "bearer token for the running server (external mode)")
	fs.StringVar(&o.serverBin, "server-bin", "bin/server", "server binary to start per scenario (managed mode)")
	fs.Var(&o.serverEnv, "server-env", "extra K=V for the started server (repeatable), e.g. BENCH_FAULTS=leak-goroutine")
	fs.StringVar(&o.databaseURL, "database-url", getenv("DATABASE_URL"), "PostgreSQL URL for the server and the harness's own checks (default $DATABASE_URL)")
	fs.StringVar(&o.out, "out", "bench-results", "folder of run folders")
	fs.StringVar(&o.otel, "otel-endpoint", "", "OTLP/HTTP endpoint the started server exports traces to (off when empty)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve the harness's metrics on this address, e.g. 127.0.0.1:9101 (off when empty)")
	fs.StringVar(&o.promSDFile, "prom-sd-file", "", "Prometheus file_sd file naming the current server's admin listener (off when empty)")
	fs.IntVar(&o.seedItems, "seed-items", 100, "items created through the API before the first scenario")
	fs.Int64Var(&set.Seed, "seed", 1, "seed of the request mix")
	fs.Float64Var(&set.Rate, "rate", set.Rate, "requests/s of steady, cancel and shutdown")
	fs.DurationVar(&set.Duration, "duration", set.Duration, "counted duration of steady and cancel")
	fs.DurationVar(&set.Warmup, "warmup", set.Warmup, "warm-up before the counted duration (not counted)")
	fs.DurationVar(&set.Timeout, "timeout", set.Timeout, "client timeout per request")
	fs.DurationVar(&set.SLOP99, "slo-p99", set.SLOP99, "p99 latency objective")
	fs.Float64Var(&set.MaxErrorRate, "max-error-rate", set.MaxErrorRate, "highest error ratio that passes (0.01 = 1%)")
	fs.Float64Var(&set.PostShare, "post-share", set.PostShare, "share of POSTs in the mix")
	fs.Float64Var(&set.TraceSample, "trace-sample", set.TraceSample, "share of requests sent with a sampled traceparent")
	fs.StringVar(&set.JaegerURL, "jaeger-url", getenv("JAEGER_URL"), "Jaeger UI base for trace links (default $JAEGER_URL)")
	fs.DurationVar(&set.MaxLateness, "max-lateness", 50*time.Millisecond, "send-lateness p99 above which a scenario is INVALID (the generator fell behind)")
	fs.DurationVar(&set.Settle, "settle", set.Settle, "time the server gets after the attack before the settle checks")
	fs.Float64Var(&set.GoroutineSlack, "goroutine-slack", set.GoroutineSlack, "goroutines over the baseline still counted as settled")
	fs.DurationVar(&set.CPUProfile, "cpu-profile", set.CPUProfile, "length of the CPU profile captured during steady")
	fs.Float64Var(&set.CancelShare, "cancel-share", set.CancelShare, "cancel: share of requests held past the client timeout")
	fs.DurationVar(&set.CancelDelay, "cancel-delay", set.CancelDelay, "cancel: X-Bench-Delay of those requests")
	fs.DurationVar(&set.CancelTimeout, "cancel-timeout", set.CancelTimeout, "cancel: client timeout")
	fs.DurationVar(&set.ShutdownDuration, "shutdown-duration", set.ShutdownDuration, "shutdown: attack duration")
	fs.DurationVar(&set.ShutdownAt, "shutdown-at", set.ShutdownAt, "shutdown: SIGTERM this long after the attack starts")
	fs.Float64Var(&set.HoldShare, "hold-share", set.HoldShare, "shutdown: share of requests held in flight")
	fs.DurationVar(&set.HoldDelay, "hold-delay", set.HoldDelay, "shutdown: X-Bench-Delay of the held requests")
	fs.DurationVar(&set.DrainTimeout, "drain-timeout", set.DrainTimeout, "shutdown: the server's SHUTDOWN_TIMEOUT")
	fs.DurationVar(&set.DrainDelay, "drain-delay", set.DrainDelay, "shutdown: the server's DRAIN_DELAY")
	fs.DurationVar(&set.ShortDrainTimeout, "short-drain-timeout", set.ShortDrainTimeout, "shutdown-short-drain: SHUTDOWN_TIMEOUT (shorter than -hold-delay)")
	fs.Float64Var(&set.RampFrom, "ramp-from", set.RampFrom, "ramp: first rate")
	fs.Float64Var(&set.RampTo, "ramp-to", set.RampTo, "ramp: last rate")
	fs.IntVar(&set.RampSteps, "ramp-steps", set.RampSteps, "ramp: number of rates, geometric from -ramp-from to -ramp-to; it stops at the first that misses the SLO")
	fs.DurationVar(&set.RampStep, "ramp-step", set.RampStep, "ramp: duration of each rate")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageErrorf("run: %v", err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("run: unexpected argument %q", fs.Arg(0))
	}
	var names []string
	if o.scenarios != "" {
		for _, n := range strings.Split(o.scenarios, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	scs, err := scenario.Select(names)
	if err != nil {
		return usageErrorf("run: %v", err)
	}
	if err := validate(set, o); err != nil {
		return usageErrorf("run: %v", err)
	}
	return execute(ctx, set, o, scs, fs, stdout, stderr)
}

// preScan finds -name V / -name=V (or --name) in args before the flags are defined, so a profile
// can set the other flags' defaults and -h shows them.
func preScan(args []string, name, def string) string {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return def
}

func validate(s scenario.Settings, o runOptions) error {
	switch {
	case s.Rate <= 0:
		return fmt.Errorf("-rate must be > 0, got %g", s.Rate)
	case s.Duration <= 0:
		return fmt.Errorf("-duration must be > 0, got %s", s.Duration)
	case s.Warmup < 0 || s.Settle < 0:
		return fmt.Errorf("-warmup and -settle must be ≥ 0")
	case s.SLOP99 <= 0:
		return fmt.Errorf("-slo-p99 must be > 0, got %s", s.SLOP99)
	case s.MaxErrorRate < 0 || s.MaxErrorRate > 1:
		return fmt.Errorf("-max-error-rate must be in [0, 1], got %g", s.MaxErrorRate)
	case s.PostShare < 0 || s.PostShare > 1 || s.TraceSample < 0 || s.TraceSample > 1 ||
		s.CancelShare < 0 || s.CancelShare > 1 || s.HoldShare < 0 || s.HoldShare > 1:
		return fmt.Errorf("shares (-post-share, -trace-sample, -cancel-share, -hold-share) must be in [0, 1]")
	case s.CancelDelay <= s.CancelTimeout:
		return fmt.Errorf("-cancel-delay (%s) must be longer than -cancel-timeout (%s)", s.CancelDelay, s.CancelTimeout)
	case s.ShutdownAt >= s.ShutdownDuration:
		return fmt.Errorf("-shutdown-at (%s) must fall inside -shutdown-duration (%s)", s.ShutdownAt, s.ShutdownDuration)
	case s.RampSteps < 1 || s.RampFrom <= 0 || s.RampTo < s.RampFrom || s.RampStep <= 0:
		return fmt.Errorf("ramp: want -ramp-steps ≥ 1, 0 < -ramp-from ≤ -ramp-to, -ramp-step > 0")
	case o.target != "" && (o.admin == "" || o.token == ""):
		return fmt.Errorf("-target needs -admin and -token")
	case o.target == "" && (o.admin != "" || o.token != ""):
		return fmt.Errorf("-admin and -token are for an external target: give -target too")
	case o.target == "" && o.databaseURL == "":
		return fmt.Errorf("no database: set DATABASE_URL or -database-url (or use scripts/with-postgres.sh)")
	case o.seedItems < 0:
		return fmt.Errorf("-seed-items must be ≥ 0")
	}
	return nil
}

// execute runs the scenarios and writes the run folder. It always writes what it has, also on
// a set-up failure mid-run or an interrupt.
func execute(ctx context.Context, set scenario.Settings, o runOptions, scs []scenario.Scenario, fs *flag.FlagSet, stdout, stderr io.Writer) error {
	var db *pgxpool.Pool
	if o.databaseURL != "" {
		cfg, err := pgxpool.ParseConfig(o.databaseURL)
		if err != nil {
			return usageErrorf("run: -database-url: %v", redactErr(err))
		}
		// The harness's own connections: named so the sampler's pg_stat_activity filter on the
		// server's name never counts them, and few (the sampler and the shutdown check).
		cfg.ConnConfig.RuntimeParams["application_name"] = "loadtest"
		cfg.MaxConns = 4
		db, err = pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return usageErrorf("run: connect to the database: %v", redactErr(err))
		}
		defer db.Close()
		pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = db.Ping(pingCtx)
		cancel()
		if err != nil {
			return usageErrorf("run: connect to the database: %v", redactErr(err))
		}
	}

	var metrics *promexport.Metrics
	if o.metricsAddr != "" {
		metrics = promexport.New()
		ln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			return usageErrorf("run: -metrics-addr: %v", err)
		}
		srv := &http.Server{Handler: metrics.Handler(), ReadHeaderTimeout: 5 * time.Second}
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.Serve(ln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = srv.Shutdown(sctx)
			cancel()
			<-done
		}()
	}

	sd := sdFile(o.promSDFile)
	defer sd.write("", "")

	managed := o.target == ""
	var launch scenario.Launch
	env := environment(o)
	if managed {
		base := []string{"BENCH_DELAY=on"}
		if o.otel != "" {
			endpoint := o.otel
			if !strings.Contains(endpoint, "://") {
				endpoint = "http://" + endpoint
			}
			// The client's traceparent decides sampling (parentbased), so the harness's
			// -trace-sample is the share of traces Jaeger gets.
			base = append(base, "OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_ENDPOINT="+endpoint,
				"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_TRACES_SAMPLER=parentbased_always_on")
		}
		base = append(base, o.serverEnv...)
		launch = func(ctx context.Context, name string, extra []string) (scenario.Server, string, error) {
			secret, err := serverctl.NewSecret()
			if err != nil {
				return nil, "", err
			}
			l, err := serverctl.Start(ctx, serverctl.Config{Bin: o.serverBin, DatabaseURL: o.databaseURL,
				JWTSecret: secret, Env: append(append([]string(nil), base...), extra...)})
			if err != nil {
				return nil, "", err
			}
			token, err := l.Token(ctx, "loadtest")
			if err != nil {
				_ = l.Stop(5 * time.Second)
				return nil, "", err
			}
			sd.write(l.Admin(), name)
			return sdStopper{l, sd}, token, nil
		}
	} else {
		ext, err := serverctl.NewExternal(ctx, o.target, o.admin, 5*time.Second)
		if err != nil {
			return usageErrorf("run: target unreachable: %v", err)
		}
		env.Target, env.Admin = ext.API(), ext.Admin()
		sd.write(ext.Admin(), "external")
		launch = func(context.Context, string, []string) (scenario.Server, string, error) {
			return ext, o.token, nil
		}
	}

	id := time.Now().UTC().Format("20060102T150405Z")
	dir := filepath.Join(o.out, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usageErrorf("run: create run folder: %v", err)
	}
	run := summary.Run{ID: id, StartedAt: time.Now().UTC(), Env: env, Settings: settingsOf(set, o, scs, fs)}

	keeper := traceKeeper(set, o) // issue 12: nil without the stack
	rn := &scenario.Runner{Settings: set, Launch: launch, Signals: managed, DB: db, Dir: dir,
		SeedItems: o.seedItems, Progress: progress.New(stderr), Metrics: metrics, OnResult: keeper.Observe}
	results, runErr := rn.Run(ctx, scs)
	if managed && len(results) > 0 {
		run.Env.ManagedBy = "harness"
	}
	run.Scenarios = results
	// Scenarios not reached (set-up failure) are listed as skipped, so the report shows the plan.
	for _, s := range scs[len(results):] {
		run.Scenarios = append(run.Scenarios, summary.Scenario{Name: s.Name, Description: s.Description,
			Verdict: summary.Skipped, Reasons: []string{"not run: the run stopped at a set-up failure"}})
	}
	run.FinishedAt = time.Now().UTC()
	markTraces(ctx, keeper, set.JaegerURL, run.Scenarios, stderr) // issue 12: trace links checked in Jaeger
	run.Verdict = summary.Overall(run.Scenarios)
	switch {
	case ctx.Err() != nil:
		run.Partial, run.PartialReason, run.Verdict = true, "interrupted (SIGINT/SIGTERM): results up to the interrupt", summary.Interrupted
	case runErr != nil:
		run.Partial, run.PartialReason = true, "set-up failure: "+firstLine(runErr.Error())
	default:
		for _, sc := range run.Scenarios {
			for _, e := range sc.Events {
				if e.Name == "crash" && !run.Partial {
					run.Partial, run.PartialReason = true, "the server crashed in "+sc.Name+"; later scenarios were skipped"
				}
			}
		}
	}
	if err := writeRunFolder(dir, run); err != nil {
		return usageErrorf("run: %v", err)
	}
	linkLatest(o.out, id)
	if err := report.Table(stdout, run); err != nil {
		return usageErrorf("run: %v", err)
	}
	switch {
	case runErr != nil:
		return usageErrorf("run: %v", runErr)
	case run.Verdict == summary.Pass:
		return nil
	default:
		return verdictError{reason: fmt.Sprintf("run %s: %s", id, run.Verdict)}
	}
}

func writeRunFolder(dir string, run summary.Run) error {
	if err := summary.Write(filepath.Join(dir, "summary.json"), run); err != nil {
		return err
	}
	for name, render := range map[string]func(io.Writer, summary.Run) error{"report.md": report.Markdown, "report.html": report.HTML} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		rerr := render(f, run)
		cerr := f.Close()
		if err := errors.Join(rerr, cerr); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// linkLatest points out/latest at the newest run folder (best effort: a report is still
// complete without it).
func linkLatest(out, id string) {
	tmp := filepath.Join(out, ".latest.tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(id, tmp); err != nil {
		return
	}
	_ = os.Rename(tmp, filepath.Join(out, "latest"))
}

// environment describes this run's machine and build.
func environment(o runOptions) summary.Environment {
	env := summary.Environment{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		NumCPU: runtime.NumCPU(), ManagedBy: "external", Target: o.target, Admin: o.admin}
	if o.target == "" {
		env.ManagedBy, env.Target, env.Admin = "harness", "per-scenario server on free loopback ports", ""
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				env.Commit = s.Value
			case "vcs.modified":
				env.Dirty = s.Value == "true"
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
			out.Rates[sc.Name] = s.RampTo
		default:
			out.Rates[sc.Name] = s.Rate
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "token": // a secret: never in a report
			return
		case "database-url":
			out.Values[f.Name] = redactURL(f.Value.String())
			return
		}
		out.Values[f.Name] = f.Value.String()
	})
	return out
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// redactErr keeps a connection error's message but not a password pgx may quote from the URL.
func redactErr(err error) string {
	return strings.ReplaceAll(err.Error(), "password=", "password=xxxxx ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// sdFile writes the Prometheus file_sd list naming the current server (docs/contracts.md);
// empty path: off.
type sdFile string

func (p sdFile) write(admin, name string) {
	if p == "" {
		return
	}
	list := []map[string]any{}
	if admin != "" {
		u, err := url.Parse(admin)
		if err == nil {
			list = append(list, map[string]any{"targets": []string{u.Host}, "labels": map[string]string{"scenario": name}})
		}
	}
	b, _ := json.Marshal(list)
	tmp := string(p) + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return
	}
	_ = os.Rename(tmp, string(p))
}

// sdStopper clears the file_sd list when its server stops.
type sdStopper struct {
	*serverctl.Local
	sd sdFile
}

func (s sdStopper) Stop(grace time.Duration) error {
	err := s.Local.Stop(grace)
	s.sd.write("", "")
	return err
}
