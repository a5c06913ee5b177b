package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/items"
	"github.com/benchharness/benchharness/loadtest/internal/sampler"
	"github.com/benchharness/benchharness/loadtest/internal/scenario"
	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// serviceOptions are run's flags for a service other than the items server (docs/harness.md,
// "Your own service"): started with -server-cmd, or an external -target without -admin.
type serviceOptions struct {
	cmd          string        // -server-cmd
	readyPath    string        // -ready-path
	readyTimeout time.Duration // -ready-timeout
	metricsURL   string        // -metrics-url
	pprofURL     string        // -pprof-url
	targets      string        // -targets
	heldTargets  string        // -held-targets
	dbApp        string        // -db-application
	writesTable  string        // -writes-table

	args []string // cmd, split
}

func serviceFlags(fs *flag.FlagSet, s *serviceOptions) {
	fs.StringVar(&s.cmd, "server-cmd", "", "start this command per scenario instead of -server-bin: any HTTP service; {port} (and {admin_port}) become free loopback ports, here and in -server-env values, e.g. 'bin/example -addr 127.0.0.1:{port}'")
	fs.StringVar(&s.readyPath, "ready-path", "", "readiness path of a -server-cmd or -target service, tried on its admin port then its API port (default: the first of /readyz, /healthz answering 2xx, else the first HTTP answer)")
	fs.DurationVar(&s.readyTimeout, "ready-timeout", 20*time.Second, "how long a -server-cmd or -target service may take to become ready (exit 2 after)")
	fs.StringVar(&s.metricsURL, "metrics-url", "", "Prometheus metrics of the service: a path (tried on the admin port, then the API port) or a URL with {port}/{admin_port} (default /metrics)")
	fs.StringVar(&s.pprofURL, "pprof-url", "", "base of the service's /debug/pprof: a path or a URL, as -metrics-url (default /debug/pprof)")
	fs.StringVar(&s.targets, "targets", "", "the requests to send, in vegeta's HTTP or JSON target format; a target listed twice is drawn twice as often; scheme and host become the server's (default: the items server's profile, loadtest/internal/items)")
	fs.StringVar(&s.heldTargets, "held-targets", "", "the requests that stay in flight on the server (a slow endpoint), same format; {delay} in them becomes -cancel-delay or -hold-delay")
	fs.StringVar(&s.dbApp, "db-application", "", "application_name of the service's PostgreSQL sessions: with -database-url, the harness reads their pg_stat_activity")
	fs.StringVar(&s.writesTable, "writes-table", "", "table whose id a 201's JSON body names: with -database-url, shutdown looks every acknowledged write up in it (items server: items)")
}

// generic reports whether the run is against a service other than the items server.
func (o runOptions) generic() bool {
	return o.svc.cmd != "" || (o.target != "" && o.admin == "" && o.token == "")
}

// validateService checks the service flags and reads the targets files into set.
func validateService(o *runOptions, set *scenario.Settings) error {
	s := &o.svc
	known := []string{serverctl.PortPlaceholder, serverctl.AdminPortPlaceholder}
	if o.target != "" {
		known = nil // an external service's ports are its own
	}
	switch {
	case s.cmd != "" && o.target != "":
		return errors.New("give -server-cmd or -target, not both")
	case s.cmd != "" && (o.admin != "" || o.token != ""):
		return errors.New("-admin and -token are for an external items server: a -server-cmd service is reached on its {port}")
	case s.readyTimeout <= 0:
		return fmt.Errorf("-ready-timeout must be > 0, got %s", s.readyTimeout)
	case o.generic() && s.targets == "":
		return errors.New("-targets FILE is required for a service other than the items server (the requests to send)")
	case s.heldTargets != "" && s.targets == "":
		return errors.New("-held-targets needs -targets")
	}
	// A typo ({prot}) is named before anything else is said of the command.
	for _, f := range []struct{ flag, v string }{{"-server-cmd", s.cmd}, {"-server-env", o.serverEnv.String()},
		{"-metrics-url", s.metricsURL}, {"-pprof-url", s.pprofURL}} {
		if err := serverctl.CheckPlaceholders(f.v, known...); err != nil {
			return fmt.Errorf("%s: %w", f.flag, err)
		}
	}
	if s.cmd != "" {
		args, err := serverctl.SplitCommand(s.cmd)
		if err != nil {
			return fmt.Errorf("-server-cmd: %w", err)
		}
		s.args = args
		if !strings.Contains(s.cmd, serverctl.PortPlaceholder) && !strings.Contains(o.serverEnv.String(), serverctl.PortPlaceholder) {
			return fmt.Errorf("-server-cmd: pass %s to the service (in the command or a -server-env value): the harness picks the port it listens on", serverctl.PortPlaceholder)
		}
	}
	var err error
	if s.targets == "" { // the items server: its profile
		set.Targets, set.HeldTargets, err = items.Targets()
		return err
	}
	if set.Targets, err = readTargets("-targets", s.targets); err != nil {
		return err
	}
	set.HeldTargets, err = readTargets("-held-targets", s.heldTargets, attack.DelayPlaceholder)
	return err
}

// readTargets parses a targets file (nil when path is empty) whose URLs and header values may
// hold only the known placeholders.
func readTargets(flagName, path string, known ...string) ([]vegeta.Target, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	defer f.Close()
	t, err := attack.ParseTargets(f, os.DirFS(filepath.Dir(path)))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flagName, path, err)
	}
	for _, tg := range t {
		vals := []string{tg.URL}
		for _, hv := range tg.Header {
			vals = append(vals, hv...)
		}
		for _, v := range vals {
			if err := serverctl.CheckPlaceholders(v, known...); err != nil {
				return nil, fmt.Errorf("%s %s: %w", flagName, path, err)
			}
		}
	}
	return t, nil
}

// serviceLauncher returns how each scenario gets a -server-cmd service: a fresh process on
// fresh ports, its signals probed once it is ready.
func serviceLauncher(o runOptions, sd sdFile) scenario.Launch {
	return func(ctx context.Context, spec scenario.LaunchSpec) (scenario.Server, error) {
		name := spec.Scenario
		l, err := serverctl.StartService(ctx, serverctl.ServiceConfig{Args: o.svc.args, Env: o.serverEnv,
			ReadyPath: o.svc.readyPath, StartWait: o.svc.readyTimeout, AppName: o.svc.dbApp})
		if err != nil {
			return scenario.Server{}, err
		}
		sig := probeSignals(ctx, o.svc, l.API(), l.Admin())
		sd.write(l.Admin(), name)
		return scenario.Server{Target: l, Process: sdStopper{l, sd}, Signals: &sig}, nil
	}
}

// externalService checks that the external service answers and returns it, its signals probed.
func externalService(ctx context.Context, o runOptions, wait time.Duration) (scenario.Server, error) {
	ext, err := serverctl.NewExternalService(ctx, o.target, o.svc.readyPath, o.svc.dbApp, wait)
	if err != nil {
		return scenario.Server{}, err
	}
	sig := probeSignals(ctx, o.svc, ext.API(), ext.Admin())
	return scenario.Server{Target: ext, Signals: &sig}, nil
}

// probeSignals finds the service's metrics and pprof: at -metrics-url/-pprof-url, else at the
// default paths on the admin port and then the API port.
func probeSignals(ctx context.Context, s serviceOptions, api, admin string) summary.Signals {
	return sampler.Probe(ctx, candidates(s.metricsURL, "/metrics", api, admin), candidates(s.pprofURL, "/debug/pprof", api, admin))
}

// candidates are the URLs a signal flag names: a URL with its placeholders filled, or a path
// (def when empty) on the admin base and then on the API base.
func candidates(flagValue, def, api, admin string) []string {
	if strings.Contains(flagValue, "://") {
		r := strings.NewReplacer(serverctl.PortPlaceholder, port(api), serverctl.AdminPortPlaceholder, port(admin))
		return []string{r.Replace(flagValue)}
	}
	path := flagValue
	if path == "" {
		path = def
	}
	out := []string{admin + path}
	if api != admin {
		out = append(out, api+path)
	}
	return out
}

// port is the port of a base URL like http://127.0.0.1:8080.
func port(base string) string { return base[strings.LastIndexByte(base, ':')+1:] }
