package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/cli"
	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/fleet"
	"github.com/benchharness/benchharness/loadtest/internal/items"
	"github.com/benchharness/benchharness/loadtest/internal/progress"
	"github.com/benchharness/benchharness/loadtest/internal/redact"
	"github.com/benchharness/benchharness/loadtest/internal/report"
	"github.com/benchharness/benchharness/loadtest/internal/runfolder"
	"github.com/benchharness/benchharness/loadtest/internal/sampler"
	"github.com/benchharness/benchharness/loadtest/internal/scenario"
	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// defaults are the default profile's knobs: every scenario fits in about 1¾ minutes on a 2-core
// machine. Every value can be overridden by its flag.
func defaults() scenario.Settings {
	return scenario.Settings{
		Rate: 100, Duration: 20 * time.Second, Warmup: 3 * time.Second, Timeout: 5 * time.Second,
		SLOP99: 100 * time.Millisecond, MaxErrorRate: 0.01, Seed: 1, TraceSample: 0.1, SlowestN: 10,
		MaxLateness: 50 * time.Millisecond, MaxNeighbourShare: 0.1,
		Settle: time.Second, GoroutineSlack: 5, SampleEvery: sampler.DefaultInterval, ServerEvery: sampler.DefaultServerEvery, CPUProfile: 5 * time.Second,
		Cancel: scenario.CancelSettings{Share: 0.05, Delay: 3 * time.Second, Timeout: 100 * time.Millisecond,
			MaxCleanup: time.Second},
		Shutdown: scenario.ShutdownSettings{Duration: 8 * time.Second, At: 4 * time.Second, HoldShare: 0.05,
			HoldDelay: time.Second, DrainTimeout: 5 * time.Second, DrainDelay: 300 * time.Millisecond,
			ShortDrainTimeout: 200 * time.Millisecond},
		Deploy: scenario.DeploySettings{Strategy: scenario.Handoff, MaxGap: 500 * time.Millisecond, MigrateReq: -1},
		Ramp: scenario.RampSettings{From: 100, To: 6400, Steps: 12, Step: 3 * time.Second, Refine: 4,
			CPURate: 1600, CPUHold: 10 * time.Second},
		Soak: scenario.SoakSettings{Duration: 30 * time.Minute, Warmup: 3 * time.Minute, MemoryLimit: 16, CountLimit: 60,
			P99Drift: 20 * time.Millisecond},
	}
}

// profile returns a named profile: default, or quick (about 50 s, the CI smoke), which is
// default with shorter durations, a lower rate and a shorter ramp.
func profile(name string) (scenario.Settings, bool) {
	s := defaults()
	switch name {
	case "default":
	case "quick":
		s.Rate, s.Duration, s.Warmup, s.CPUProfile = 50, 5*time.Second, time.Second, 2*time.Second
		s.Shutdown.Duration, s.Shutdown.At = 4*time.Second, 1500*time.Millisecond
		// Doubling to past this machine's knee (4500–6000 req/s on 2 quiet cores), then four
		// refinements: the capacity to ~4 %, which a regression gate comparing it needs.
		// 1600 req/s, held 6 s for the server's CPU per request: below every recorded knee
		// but the 2 ms CPU fault's, where a 1 s step's figure varied 4–8 %.
		s.Ramp = scenario.RampSettings{From: 400, To: 6400, Steps: 5, Step: time.Second, Refine: 4,
			CPURate: 1600, CPUHold: 6 * time.Second}
		// A two-minute soak: 30 s for the RSS to settle (with 10 s it still climbed through the
		// first minute, docs/design/harness-evidence.md), 18 windows, and limits 90 s can resolve (a gross leak
		// such as BENCH_FAULTS=slow-leak), not the half hour's.
		s.Soak = scenario.SoakSettings{Duration: 2 * time.Minute, Warmup: 30 * time.Second, MemoryLimit: 200, CountLimit: 600,
			P99Drift: 10 * time.Second}
	default:
		return scenario.Settings{}, false
	}
	return s, true
}

// runOptions are run's flags that are not scenario settings.
type runOptions struct {
	profile     string
	scenarios   string
	target      string
	admin       string
	token       string
	tokenFile   string
	signalCmd   string
	signalWait  time.Duration
	serverBin   string
	serverHost  string
	serverEnv   envList
	databaseURL string
	out         string
	otel        string
	metricsAddr string
	promSDFile  string
	seedItems   int
	repeat      int
	svc         serviceOptions // a service other than the items server (service.go)

	workers             string // -workers: spread the attacks over these (docs/distributed.md)
	workerCount         int
	workersWait         time.Duration
	maxClockUncertainty time.Duration
	workerKey           string // $LOADTEST_WORKER_KEY: never a flag, never in a report
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
	configPath := preScan(args, "config", "")
	conf, err := readConfig(configPath)
	if err != nil {
		return usageErrorf("run: %v", err)
	}
	profileName := preScan(args, "profile", cmp.Or(conf.str("profile"), "default"))
	set, ok := profile(profileName)
	if !ok {
		return usageErrorf("run: unknown -profile %q (want default or quick)", profileName)
	}
	o := runOptions{profile: profileName}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { groupedUsage(fs.Output(), fs, runFlagGroups()) }
	fs.String("config", configPath, "YAML file of flag values, keys = flag names (a list for -server-env); the command line wins")
	fs.StringVar(&o.profile, "profile", profileName, "preset durations and rates: default (≤ 3 min) or quick (~50 s)")
	fs.StringVar(&o.scenarios, "scenarios", "", "comma list of scenarios (default: steady, cancel, shutdown, ramp; deploy, soak and shutdown-short-drain only when named)")
	fs.StringVar(&o.target, "target", "", "API base URL of a running server (external mode): the items server with -admin and -token, any service with -targets")
	fs.StringVar(&o.admin, "admin", "", "admin base URL of the running server (external mode)")
	fs.StringVar(&o.token, "token", "", "bearer token for the running server (external mode)")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the bearer token, instead of -token (external mode; a mounted Secret)")
	fs.StringVar(&o.signalCmd, "signal-cmd", "", "shell command (sh -c) that makes the running server shut down, for the shutdown scenario (external mode), e.g. 'kubectl delete pod items-0 --wait=false'")
	fs.DurationVar(&o.signalWait, "signal-timeout", 15*time.Second, "longest time -signal-cmd may take before it is killed (a set-up failure)")
	fs.StringVar(&o.serverBin, "server-bin", "bin/server", "server binary to start per scenario (managed mode)")
	fs.StringVar(&o.serverHost, "server-host", "127.0.0.1", "IP the started server's public listener binds (managed mode; its admin listener stays on loopback): workers in other network namespaces reach it there")
	fs.Var(&o.serverEnv, "server-env", "extra K=V for the started server (repeatable), e.g. BENCH_FAULTS=leak-goroutine")
	fs.StringVar(&o.databaseURL, "database-url", getenv("DATABASE_URL"), "PostgreSQL URL for the server and the harness's own checks (default $DATABASE_URL)")
	fs.StringVar(&o.out, "out", "bench-results", "folder of run folders")
	fs.StringVar(&o.otel, "otel-endpoint", "", "OTLP/HTTP endpoint the started server exports traces to (off when empty)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve the harness's metrics on this address, e.g. 127.0.0.1:9101 (off when empty)")
	fs.StringVar(&o.promSDFile, "prom-sd-file", "", "Prometheus file_sd file naming the current server's admin listener (off when empty)")
	fs.IntVar(&o.seedItems, "seed-items", 100, "items created through the API before the first scenario")
	fs.IntVar(&o.repeat, "repeat", 1, "run the scenarios this many times (a fresh server each time), keep every run folder and write a stability summary")
	fs.StringVar(&o.workers, "workers", "", "spread every attack over these load generators (loadtest worker): host:port,..., a DNS name:port standing for every address it resolves to (a Kubernetes headless Service), or srv:NAME")
	fs.IntVar(&o.workerCount, "worker-count", 0, "with -workers: how many workers the list must resolve to (0: as many as it does)")
	fs.DurationVar(&o.workersWait, "workers-wait", fleet.DefaultWait, "how long to wait for every worker to be ready before giving up (exit 2)")
	fs.DurationVar(&o.maxClockUncertainty, "max-clock-uncertainty", fleet.DefaultMaxClockUncertainty, "with -workers: a worker's clock offset known less precisely than this makes the scenario INVALID")
	o.workerKey = getenv("LOADTEST_WORKER_KEY")
	serviceFlags(fs, &o.svc)
	settingFlags(fs, &set, getenv)
	if err := conf.apply(fs, configPath); err != nil {
		return usageErrorf("run: %v", err)
	}
	if err := cli.Parse(fs, args); err != nil {
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
	if err := readTokenFile(&o); err != nil {
		return usageErrorf("run: %v", err)
	}
	if err := validate(set, o); err != nil {
		return usageErrorf("run: %v", err)
	}
	if err := validateService(&o, &set); err != nil {
		return usageErrorf("run: %v", err)
	}
	if err := validateSignalCmd(o, fs); err != nil {
		return usageErrorf("run: %v", err)
	}
	if o.target != "" {
		scs = scenario.SignalsLast(scs)
	}
	return execute(ctx, set, o, scs, fs, stdout, stderr)
}

// settingFlags defines a flag for every scenario setting, its default the profile's value.
func settingFlags(fs *flag.FlagSet, set *scenario.Settings, getenv func(string) string) {
	fs.Int64Var(&set.Seed, "seed", set.Seed, "seed of the request mix")
	fs.Float64Var(&set.Rate, "rate", set.Rate, "requests/s of steady, cancel, shutdown, deploy and soak")
	fs.DurationVar(&set.Duration, "duration", set.Duration, "counted duration of steady and cancel")
	fs.DurationVar(&set.Warmup, "warmup", set.Warmup, "warm-up before the counted duration (not counted)")
	fs.DurationVar(&set.Timeout, "timeout", set.Timeout, "client timeout per request")
	fs.DurationVar(&set.SLOP99, "slo-p99", set.SLOP99, "p99 latency objective, from the intended send time")
	fs.Float64Var(&set.MaxErrorRate, "max-error-rate", set.MaxErrorRate, "highest error ratio that passes (0.01 = 1%)")
	fs.Float64Var(&set.TraceSample, "trace-sample", set.TraceSample, "share of requests sent with a sampled traceparent")
	fs.StringVar(&set.JaegerURL, "jaeger-url", getenv("JAEGER_URL"), "Jaeger UI base for trace links (default $JAEGER_URL)")
	fs.DurationVar(&set.MaxLateness, "max-lateness", set.MaxLateness, "send-lateness p99 above which a scenario is INVALID (the generator fell behind)")
	fs.DurationVar(&set.Settle, "settle", set.Settle, "time the server gets after the attack before the settle checks")
	fs.Float64Var(&set.GoroutineSlack, "goroutine-slack", set.GoroutineSlack, "goroutines over the baseline still counted as settled")
	fs.DurationVar(&set.CPUProfile, "cpu-profile", set.CPUProfile, "length of the CPU profile captured during steady")
	fs.Float64Var(&set.MaxNeighbourShare, "max-neighbour-share", set.MaxNeighbourShare, "longest run-queue wait of a benchmark thread (server, PostgreSQL backend, harness) during one of the slowest requests, as a share of the judged p99, at or above which a scenario is INVALID while other processes ran (0: not checked; measured when the server and PostgreSQL run here)")
	fs.IntVar(&set.Pool, "pool", set.Pool, "the server's pool size (DB_MAX_CONNS) in every scenario; 0 sizes it per scenario for its held requests")
	c := &set.Cancel
	fs.Float64Var(&c.Share, "cancel-share", c.Share, "cancel: share of requests held past their client timeout")
	fs.DurationVar(&c.Delay, "cancel-delay", c.Delay, "cancel: X-Bench-Delay of those requests")
	fs.DurationVar(&c.Timeout, "cancel-timeout", c.Timeout, "cancel: client timeout of the held requests (the others keep -timeout)")
	fs.DurationVar(&c.MaxCleanup, "max-cleanup", c.MaxCleanup, "cancel: longest time from the last cancel until no cancelled query runs in PostgreSQL")
	sh := &set.Shutdown
	fs.DurationVar(&sh.Duration, "shutdown-duration", sh.Duration, "shutdown: attack duration")
	fs.DurationVar(&sh.At, "shutdown-at", sh.At, "shutdown: SIGTERM this long after the warm-up")
	fs.Float64Var(&sh.HoldShare, "hold-share", sh.HoldShare, "shutdown: share of requests held in flight")
	fs.DurationVar(&sh.HoldDelay, "hold-delay", sh.HoldDelay, "shutdown: X-Bench-Delay of the held requests")
	fs.DurationVar(&sh.DrainTimeout, "drain-timeout", sh.DrainTimeout, "shutdown: the server's SHUTDOWN_TIMEOUT")
	fs.DurationVar(&sh.DrainDelay, "drain-delay", sh.DrainDelay, "shutdown: the server's DRAIN_DELAY")
	fs.DurationVar(&sh.ShortDrainTimeout, "short-drain-timeout", sh.ShortDrainTimeout, "shutdown-short-drain: SHUTDOWN_TIMEOUT (shorter than -hold-delay)")
	fs.BoolVar(&sh.FailOnAcceptQueue, "fail-on-accept-queue", sh.FailOnAcceptQueue, "shutdown: requests the kernel reset in the listener's accept queue FAIL the verdict (off: counted and listed)")
	d := &set.Deploy
	fs.StringVar(&d.Strategy, "deploy-strategy", d.Strategy, "deploy: how the new server takes the port: "+strings.Join(scenario.Strategies(), ", "))
	fs.DurationVar(&d.MaxGap, "max-gap", d.MaxGap, "deploy: longest time between two answered requests that passes")
	fs.IntVar(&d.MigrateReq, "deploy-migrate-req", d.MigrateReq, "deploy, reuseport: net.ipv4.tcp_migrate_req during the switch (0 or 1, put back after; -1 leaves it)")
	r := &set.Ramp
	fs.Float64Var(&r.From, "ramp-from", r.From, "ramp: first rate")
	fs.Float64Var(&r.To, "ramp-to", r.To, "ramp: last rate")
	fs.IntVar(&r.Steps, "ramp-steps", r.Steps, "ramp: number of rates, geometric from -ramp-from to -ramp-to; it stops at the first that misses the SLO")
	fs.DurationVar(&r.Step, "ramp-step", r.Step, "ramp: duration of each rate")
	fs.IntVar(&r.Refine, "ramp-refine", r.Refine, "ramp: rates tried after the first miss, each halfway (in ratio) between the highest met and the lowest missed")
	fs.Float64Var(&r.CPURate, "ramp-cpu-rate", r.CPURate, "ramp: the highest own rate not above this is held for -ramp-cpu-hold, where compare reads the server's CPU per request (0: none)")
	fs.DurationVar(&r.CPUHold, "ramp-cpu-hold", r.CPUHold, "ramp: how long the -ramp-cpu-rate step lasts (at most -ramp-step: no hold)")
	fs.Float64Var(&r.MinCapacity, "min-capacity", r.MinCapacity, "ramp: a capacity below this (req/s) FAILS the ramp (0: any capacity passes)")
	k := &set.Soak
	fs.DurationVar(&k.Duration, "soak-duration", k.Duration, "soak: attack duration at -rate, warm-up included (by name: -scenarios soak)")
	fs.DurationVar(&k.Warmup, "soak-warmup", k.Warmup, "soak: the first part of -soak-duration, not judged")
	fs.Float64Var(&k.MemoryLimit, "soak-memory-limit", k.MemoryLimit, "soak: most the live heap and the RSS may grow, MiB per hour")
	fs.Float64Var(&k.CountLimit, "soak-count-limit", k.CountLimit, "soak: most goroutines, open connections, fds, pool connections and PostgreSQL sessions may grow, each per hour")
	fs.DurationVar(&k.P99Drift, "soak-p99-drift", k.P99Drift, "soak: most the p99 from the intended send time may grow per hour")
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
	if err := s.CheckRates(); err != nil {
		return err
	}
	switch {
	case s.Rate <= 0:
		return fmt.Errorf("-rate must be > 0, got %g", s.Rate)
	case s.Duration <= 0:
		return fmt.Errorf("-duration must be > 0, got %s", s.Duration)
	case s.Warmup < 0 || s.Settle < 0:
		return fmt.Errorf("-warmup and -settle must be ≥ 0")
	case s.GoroutineSlack < 0 || s.MaxNeighbourShare < 0:
		return fmt.Errorf("-goroutine-slack and -max-neighbour-share must be ≥ 0")
	case s.SLOP99 <= 0:
		return fmt.Errorf("-slo-p99 must be > 0, got %s", s.SLOP99)
	case s.MaxErrorRate < 0 || s.MaxErrorRate > 1:
		return fmt.Errorf("-max-error-rate must be in [0, 1], got %g", s.MaxErrorRate)
	case s.TraceSample < 0 || s.TraceSample > 1 ||
		s.Cancel.Share < 0 || s.Cancel.Share > 1 || s.Shutdown.HoldShare < 0 || s.Shutdown.HoldShare > 1:
		return fmt.Errorf("shares (-trace-sample, -cancel-share, -hold-share) must be in [0, 1]")
	case s.Cancel.Delay <= s.Cancel.Timeout:
		return fmt.Errorf("-cancel-delay (%s) must be longer than -cancel-timeout (%s)", s.Cancel.Delay, s.Cancel.Timeout)
	case s.Cancel.Timeout >= s.Timeout:
		return fmt.Errorf("-cancel-timeout (%s) must be shorter than -timeout (%s): only the held requests are given up early", s.Cancel.Timeout, s.Timeout)
	case !slices.Contains(scenario.Strategies(), s.Deploy.Strategy):
		return fmt.Errorf("-deploy-strategy %q: want one of %s", s.Deploy.Strategy, strings.Join(scenario.Strategies(), ", "))
	case s.Deploy.MaxGap <= 0 || s.Deploy.MigrateReq < -1 || s.Deploy.MigrateReq > 1:
		return fmt.Errorf("-max-gap must be > 0 and -deploy-migrate-req -1, 0 or 1")
	case s.Shutdown.At >= s.Shutdown.Duration:
		return fmt.Errorf("-shutdown-at (%s) must fall inside -shutdown-duration (%s)", s.Shutdown.At, s.Shutdown.Duration)
	case s.Ramp.Steps < 1 || s.Ramp.From <= 0 || s.Ramp.To < s.Ramp.From || s.Ramp.Step <= 0 || s.Ramp.Refine < 0 || s.Ramp.MinCapacity < 0:
		return fmt.Errorf("ramp: want -ramp-steps ≥ 1, 0 < -ramp-from ≤ -ramp-to, -ramp-step > 0, -min-capacity ≥ 0")
	case s.Ramp.CPURate < 0 || s.Ramp.CPUHold < 0:
		return fmt.Errorf("ramp: want -ramp-cpu-rate ≥ 0 and -ramp-cpu-hold ≥ 0")
	case s.Soak.Warmup < 0 || s.Soak.Duration <= s.Soak.Warmup:
		return fmt.Errorf("soak: want 0 ≤ -soak-warmup < -soak-duration, got %s and %s", s.Soak.Warmup, s.Soak.Duration)
	case !(s.Soak.MemoryLimit > 0) || !(s.Soak.CountLimit > 0) || s.Soak.P99Drift <= 0:
		return fmt.Errorf("soak: want -soak-memory-limit, -soak-count-limit and -soak-p99-drift > 0")
	case s.Pool < 0 || o.repeat < 1:
		return fmt.Errorf("-pool must be ≥ 0 and -repeat ≥ 1")
	case o.target != "" && (o.admin == "") != (o.token == ""):
		return fmt.Errorf("-target needs -admin and -token (or -token-file) for the items server, or neither for any service (with -targets)")
	case o.target == "" && (o.admin != "" || o.token != ""):
		return fmt.Errorf("-admin and -token are for an external target: give -target too")
	case o.target == "" && o.svc.cmd == "" && o.databaseURL == "":
		return fmt.Errorf("no database: set DATABASE_URL or -database-url (or use scripts/with-postgres.sh)")
	case o.seedItems < 0:
		return fmt.Errorf("-seed-items must be ≥ 0")
	}
	return validateWorkers(o)
}

func validateWorkers(o runOptions) error {
	switch {
	case net.ParseIP(o.serverHost) == nil:
		return fmt.Errorf("-server-host must be an IP address, got %q", o.serverHost)
	case o.workers == "" && o.workerCount != 0:
		return fmt.Errorf("-worker-count needs -workers")
	case o.workerCount < 0 || o.workersWait <= 0 || o.maxClockUncertainty <= 0:
		return fmt.Errorf("want -worker-count ≥ 0, -workers-wait > 0 and -max-clock-uncertainty > 0")
	case o.workers == "":
		return nil
	}
	_, err := fleet.ParseList(o.workers)
	return err
}

// readTokenFile reads -token-file into o.token: one token, surrounding white space trimmed.
func readTokenFile(o *runOptions) error {
	if o.tokenFile == "" {
		return nil
	}
	if o.token != "" {
		return errors.New("give -token or -token-file, not both")
	}
	b, err := os.ReadFile(o.tokenFile)
	if err != nil {
		return fmt.Errorf("-token-file: %w", err)
	}
	if o.token = strings.TrimSpace(string(b)); o.token == "" {
		return fmt.Errorf("-token-file %s is empty", o.tokenFile)
	}
	return nil
}

// validateSignalCmd: -signal-cmd is for a server the harness did not start, not empty, and
// needs sh.
func validateSignalCmd(o runOptions, fs *flag.FlagSet) error {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "signal-cmd" })
	switch {
	case !given:
		return nil
	case strings.TrimSpace(o.signalCmd) == "":
		return errors.New("-signal-cmd is empty")
	case o.target == "":
		return errors.New("-signal-cmd is for an external target (-target): the harness sends SIGTERM itself to the servers it starts")
	case o.signalWait <= 0:
		return fmt.Errorf("-signal-timeout must be > 0, got %s", o.signalWait)
	}
	if _, err := exec.LookPath("sh"); err != nil {
		return fmt.Errorf("-signal-cmd runs with sh -c: %w", err)
	}
	return nil
}

// execute runs the scenarios (-repeat times) and writes a run folder each time. It always
// writes what it has, also on a set-up failure mid-run or an interrupt.
func execute(ctx context.Context, set scenario.Settings, o runOptions, scs []scenario.Scenario, fs *flag.FlagSet, stdout, stderr io.Writer) error {
	db, err := openDB(ctx, o.databaseURL)
	if err != nil {
		return err
	}
	if db != nil {
		defer db.Close()
	}
	metrics, stopMetrics, err := serveMetrics(ctx, o.metricsAddr)
	if err != nil {
		return err
	}
	defer stopMetrics()
	sd := sdFile(o.promSDFile)
	defer sd.write("", "")
	env := environment(o)
	launch, err := launcher(ctx, o, sd, &env)
	if err != nil {
		return err
	}
	rn := &scenario.Runner{Settings: set, Launch: launch, Managed: o.target == "", Terminate: o.signalCmd != "", DB: db,
		Observer:   runObserver{line: progress.New(stderr), metrics: metrics},
		EnvIgnored: o.svc.cmd != "", WritesTable: cmp.Or(o.svc.writesTable, items.WritesTable)}
	if o.seedItems > 0 {
		rn.Seed = func(ctx context.Context, api, token string) error { return items.Seed(ctx, api, token, o.seedItems) }
	}
	if o.generic() {
		rn.Seed, rn.WritesTable = nil, o.svc.writesTable
	}
	if o.workers != "" {
		coord, err := fleet.Dial(ctx, o.workers, fleet.Options{Wait: o.workersWait, Count: o.workerCount,
			MaxClockUncertainty: o.maxClockUncertainty, Key: o.workerKey})
		if err != nil {
			return usageErrorf("run: %v", err)
		}
		rn.Attack, rn.Helpers, env.Workers = coord.Attack, coord.LocalPIDs(), coord.Addrs()
		fmt.Fprintf(stderr, "attacks spread over %d workers: %s\n", len(env.Workers), strings.Join(env.Workers, ", "))
	}
	var runs []summary.Run
	for i := range o.repeat {
		if i > 0 && ctx.Err() != nil {
			break
		}
		if o.repeat > 1 {
			fmt.Fprintf(stderr, "run %d of %d\n", i+1, o.repeat)
		}
		run, runErr := runOnce(ctx, rn, o, env, settingsOf(set, o, scs, fs), scs, stdout, stderr)
		if run.ID != "" {
			runs = append(runs, run)
		}
		if runErr != nil {
			return runErr
		}
	}
	if o.repeat > 1 {
		fmt.Fprintln(stdout)
		dir, err := runfolder.WriteStability(o.out, runs, stdout)
		if err != nil {
			return usageErrorf("run: %v", err)
		}
		fmt.Fprintf(stdout, "stability: %s\n", filepath.Join(dir, "stability.md"))
	}
	for _, run := range runs {
		if run.Verdict != summary.Pass {
			return verdictError{reason: fmt.Sprintf("run %s: %s", run.ID, run.Verdict)}
		}
	}
	return nil
}

// runOnce runs the scenarios once into a new run folder and prints the verdict table. Its error
// is a set-up failure (exit 2); the verdict is on the returned run.
func runOnce(ctx context.Context, rn *scenario.Runner, o runOptions, env summary.Environment, settings summary.Settings,
	scs []scenario.Scenario, stdout, stderr io.Writer) (summary.Run, error) {
	folder, err := runfolder.New(o.out)
	if err != nil {
		return summary.Run{}, usageErrorf("run: %v", err)
	}
	like := summary.NewLike(env, settings)
	run := summary.Run{ID: folder.ID, StartedAt: time.Now().UTC(), Env: env, Settings: settings, Like: &like}
	rn.Dir = folder.Dir
	keeper := traceKeeper(rn.Settings, o) // nil without the stack
	rn.Watch = func(name string) attack.Consumer {
		if keeper == nil {
			return nil
		}
		return attack.Counted(attack.ConsumerFunc(func(h *attack.Hit) { keeper.Observe(name, h.Result) }))
	}
	results, stop, runErr := rn.RunAll(ctx, scs)
	run.Scenarios = results
	// Scenarios not reached (set-up failure) are listed as skipped, so the report shows the plan.
	for _, s := range scs[len(results):] {
		run.Scenarios = append(run.Scenarios, summary.Scenario{Name: s.Name, Description: s.Description,
			Verdict: summary.Skipped, Reasons: []string{"not run: the run stopped at a set-up failure"}})
	}
	run.FinishedAt = time.Now().UTC()
	markTraces(ctx, keeper, rn.Settings.JaegerURL, run.Scenarios, stderr) // trace links checked in Jaeger
	run.Verdict = summary.Overall(run.Scenarios)
	switch {
	case ctx.Err() != nil:
		run.Partial, run.PartialReason, run.Verdict = true, "interrupted (SIGINT/SIGTERM): results up to the interrupt", summary.Interrupted
	case runErr != nil:
		// The runner gave the scenario that failed to set up the error's first line as reason.
		reason := "see the last scenario"
		if n := len(results); n > 0 && len(results[n-1].Reasons) > 0 {
			reason = results[n-1].Reasons[0]
		}
		run.Partial, run.PartialReason = true, "set-up failure: "+reason
	case stop.Ending == scenario.Crashed && stop.Scenario != scs[len(scs)-1].Name:
		run.Partial, run.PartialReason = true, "the server crashed in "+stop.Scenario+"; later scenarios were skipped"
	case stop.Ending == scenario.WorkerLost && stop.Reason != "":
		run.Partial, run.PartialReason = true, stop.Reason // cut short without a Ctrl-C; names the worker
	}
	run = redact.Value(run, o.token) // what is written and printed from here on
	if err := folder.Write(run); err != nil {
		return run, usageErrorf("run: %v", err)
	}
	if err := report.Table(stdout, run); err != nil {
		return run, usageErrorf("run: %v", err)
	}
	if runErr != nil {
		return run, usageErrorf("run: %v", runErr)
	}
	return run, nil
}

// launcher returns how each scenario gets its server: a fresh process (managed mode) or the
// external target, which it checks now and records in env.
func launcher(ctx context.Context, o runOptions, sd sdFile, env *summary.Environment) (scenario.Launch, error) {
	if o.svc.cmd != "" {
		return serviceLauncher(o, sd), nil
	}
	if o.target != "" && o.generic() {
		srv, err := externalService(ctx, o, o.svc.readyTimeout)
		if err != nil {
			return nil, usageErrorf("run: target unreachable: %v", err)
		}
		env.Target, env.Admin = srv.API(), srv.Admin()
		if o.signalCmd != "" {
			srv.Terminate = serverctl.Command{Line: o.signalCmd, Timeout: o.signalWait}.Run
		}
		return func(context.Context, scenario.LaunchSpec) (scenario.Server, error) { return srv, nil }, nil
	}
	if o.target != "" {
		ext, err := serverctl.NewExternal(ctx, o.target, o.admin, 5*time.Second)
		if err != nil {
			return nil, usageErrorf("run: target unreachable: %v", err)
		}
		env.Target, env.Admin = ext.API(), ext.Admin()
		sd.write(ext.Admin(), "external")
		srv := scenario.Server{Target: ext, Token: o.token}
		if o.signalCmd == "" {
			return func(context.Context, scenario.LaunchSpec) (scenario.Server, error) { return srv, nil }, nil
		}
		srv.Terminate = serverctl.Command{Line: o.signalCmd, Timeout: o.signalWait, Secrets: []string{o.token}}.Run
		// A -signal-cmd stops the target: the next run (-repeat) waits for it to be back (a
		// StatefulSet restarts its pod), within a minute, before seeding it.
		return func(ctx context.Context, _ scenario.LaunchSpec) (scenario.Server, error) {
			if _, err := serverctl.NewExternal(ctx, o.target, o.admin, time.Minute); err != nil {
				return scenario.Server{}, err
			}
			return srv, nil
		}, nil
	}
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
	return func(ctx context.Context, spec scenario.LaunchSpec) (scenario.Server, error) {
		secret, err := serverctl.NewSecret()
		if err != nil {
			return scenario.Server{}, err
		}
		// The scenario's settings last: they win over a -server-env (the checks assume them).
		env := append(append([]string(nil), base...), spec.Env...)
		cfg := serverctl.Config{Bin: o.serverBin, DatabaseURL: o.databaseURL, JWTSecret: secret, Env: env, Host: o.serverHost}
		if spec.Listen {
			if cfg.Listener, err = serverctl.Listen(o.serverHost); err != nil {
				return scenario.Server{}, err
			}
		}
		l, err := serverctl.Start(ctx, cfg)
		if err != nil {
			if cfg.Listener != nil {
				cfg.Listener.Close()
			}
			return scenario.Server{}, err
		}
		token, err := l.Token(ctx, "loadtest")
		if err != nil {
			_ = l.Stop(5 * time.Second)
			return scenario.Server{}, err
		}
		sd.write(l.Admin(), spec.Scenario)
		srv := scenario.Server{Target: l, Process: sdStopper{l, sd}, Token: token, Listener: cfg.Listener}
		srv.Successor = func(ctx context.Context, ln *net.TCPListener) (scenario.Server, error) {
			n, err := l.Successor(ctx, ln)
			if err != nil {
				return scenario.Server{}, err
			}
			sd.write(n.Admin(), spec.Scenario)
			return scenario.Server{Target: n, Process: sdStopper{n, sd}, Token: token}, nil
		}
		return srv, nil
	}, nil
}
