// Command composecheck validates docker-compose.yml without Docker: it loads the file with the
// compose-spec reference loader (github.com/compose-spec/compose-go/v2, what `docker compose`
// itself uses), then checks the project's rules: pinned images, ports published on 127.0.0.1
// only, every bind-mounted file and build context present, health checks, the server's stop
// grace period longer than its drain, the harness behind the bench profile, and the server's
// admin listener (pprof) bound where Prometheus scrapes it and nowhere else (admin.go).
//
// It is its own module so that the loader's dependencies never enter the project's go.mod.
//
// Usage: go run . [PATH]   (default ../../docker-compose.yml); exit 1 lists every problem.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

func main() {
	path := "../../docker-compose.yml"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := check(context.Background(), abs, filepath.Dir(abs)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(path, "ok")
}

// load parses and validates the file with the compose-spec loader, every profile enabled (so
// that the harness service is checked too), with an empty environment (so that defaults apply
// the way they do on a machine with nothing set). Relative paths resolve against dir, the
// folder docker compose would run in.
func load(ctx context.Context, path, dir string) (*types.Project, error) {
	details := types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: path}},
		Environment: types.Mapping{},
	}
	p, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SetProjectName("composecheck", false)
		o.Profiles = []string{"*"}
		o.ResolvePaths = true
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return p, nil
}

// check loads the file (relative paths against dir) and returns every rule it breaks, joined.
func check(ctx context.Context, path, dir string) error {
	p, err := load(ctx, path, dir)
	if err != nil {
		return err
	}
	var errs []error
	bad := func(svc, format string, args ...any) {
		errs = append(errs, fmt.Errorf("service %s: %s", svc, fmt.Sprintf(format, args...)))
	}
	for _, want := range []string{"postgres", "jaeger", "prometheus", "grafana", "server", "loadtest"} {
		if _, ok := p.Services[want]; !ok {
			errs = append(errs, fmt.Errorf("no %s service", want))
		}
	}
	for name, s := range p.Services {
		if s.Build == nil {
			if err := pinned(s.Image); err != nil {
				bad(name, "%v", err)
			}
		} else {
			if _, err := os.Stat(s.Build.Context); err != nil {
				bad(name, "build context: %v", err)
			}
			if _, err := readStage(dockerfile(s), s.Build.Target); err != nil {
				bad(name, "dockerfile: %v", err)
			}
		}
		for _, port := range s.Ports {
			if port.Published != "" && port.HostIP != "127.0.0.1" {
				bad(name, "port %s:%d is published on %q, not 127.0.0.1", port.Published, port.Target, port.HostIP)
			}
		}
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil && !slices.Contains(createdOnDemand, filepath.Base(v.Source)) {
				bad(name, "mounts %s at %s: %v", v.Source, v.Target, err)
			}
		}
	}
	for _, name := range []string{"postgres", "server"} {
		if s, ok := p.Services[name]; ok && (s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0) {
			bad(name, "no healthcheck")
		}
	}
	if s, ok := p.Services["postgres"]; ok && !hasNamedVolume(s) {
		bad("postgres", "data is not on a named volume")
	}
	if s, ok := p.Services["server"]; ok {
		if err := graceLongerThanDrain(s); err != nil {
			bad("server", "%v", err)
		}
		if s.HealthCheck != nil && !strings.Contains(strings.Join(s.HealthCheck.Test, " "), "/readyz") {
			bad("server", "healthcheck does not probe /readyz: %v", s.HealthCheck.Test)
		}
	}
	if s, ok := p.Services["loadtest"]; ok && !slices.Equal(s.Profiles, []string{"bench"}) {
		bad("loadtest", "profiles %v, want [bench] so that `docker compose up` does not start a bench", s.Profiles)
	}
	for _, name := range []string{"server", "loadtest"} {
		if s, ok := p.Services[name]; ok && (s.User == "0" || s.User == "root" || strings.HasPrefix(s.User, "0:") || strings.HasPrefix(s.User, "root:")) {
			bad(name, "runs as root (user %q)", s.User)
		}
	}
	if s, ok := p.Services["grafana"]; ok {
		env := func(k string) string {
			if v := s.Environment[k]; v != nil {
				return *v
			}
			return ""
		}
		if env("GF_AUTH_ANONYMOUS_ENABLED") != "true" || env("GF_AUTH_ANONYMOUS_ORG_ROLE") != "Viewer" {
			bad("grafana", "anonymous access must be enabled with the Viewer role (read-only)")
		}
	}
	errs = append(errs, checkAdmin(p)...)
	return errors.Join(errs...)
}

// createdOnDemand are bind-mount sources that docker creates when missing and that git does not
// hold: the harness's run folders.
var createdOnDemand = []string{"bench-results"}

// pinned rejects an image without a tag, or with a moving one.
func pinned(image string) error {
	if image == "" {
		return errors.New("no image and no build")
	}
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	ref := image[strings.LastIndex(image, "/")+1:]
	i := strings.LastIndex(ref, ":")
	if i < 0 {
		return fmt.Errorf("image %s has no tag: pin a version", image)
	}
	tag := ref[i+1:]
	if tag == "latest" || tag == "main" || tag == "nightly" || !strings.ContainsAny(tag, "0123456789") {
		return fmt.Errorf("image %s: tag %q is not a version", image, tag)
	}
	return nil
}

func hasNamedVolume(s types.ServiceConfig) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source != "" {
			return true
		}
	}
	return false
}

// graceLongerThanDrain checks that the grace period covers the drain: docker sends SIGKILL after
// stop_grace_period (default 10 s); the server needs DRAIN_DELAY + SHUTDOWN_TIMEOUT (defaults 0
// and 10 s, docs/contracts.md) to drain cleanly.
func graceLongerThanDrain(s types.ServiceConfig) error {
	dur := func(key string, def time.Duration) (time.Duration, error) {
		v := s.Environment[key]
		if v == nil || *v == "" {
			return def, nil
		}
		d, err := time.ParseDuration(*v)
		if err != nil {
			return 0, fmt.Errorf("%s=%q: %w", key, *v, err)
		}
		return d, nil
	}
	drain, err := dur("DRAIN_DELAY", 0)
	if err != nil {
		return err
	}
	shutdown, err := dur("SHUTDOWN_TIMEOUT", 10*time.Second)
	if err != nil {
		return err
	}
	grace := 10 * time.Second
	if s.StopGracePeriod != nil {
		grace = time.Duration(*s.StopGracePeriod)
	}
	if grace <= drain+shutdown {
		return fmt.Errorf("stop_grace_period %s is not longer than DRAIN_DELAY + SHUTDOWN_TIMEOUT = %s: docker would SIGKILL a clean drain", grace, drain+shutdown)
	}
	return nil
}
