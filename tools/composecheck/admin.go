package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// prometheusConfig is where the prometheus service reads its configuration.
const prometheusConfig = "/etc/prometheus/prometheus.yml"

// checkAdmin checks that the server's admin listener (unauthenticated /metrics, /readyz and pprof)
// binds where Prometheus scrapes it and nowhere else. ADMIN_ADDR is set and not loopback
// (Prometheus and the harness are other containers), its port is the one Prometheus's configuration
// scrapes by the service's name, and the server image does not EXPOSE it (`docker run -P` would
// publish it on every host interface). That published ports sit on 127.0.0.1 is the general rule.
func checkAdmin(p *types.Project) []error {
	s, ok := p.Services["server"]
	if !ok || s.Build == nil {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("service server: %s", fmt.Sprintf(format, args...)))
	}
	st, err := readStage(dockerfile(s), s.Build.Target)
	if err != nil {
		return nil // reported by the build rule
	}
	addr := st.env["ADMIN_ADDR"]
	if v := s.Environment["ADMIN_ADDR"]; v != nil {
		addr = *v
	}
	host, port, err := net.SplitHostPort(addr)
	switch {
	case addr == "":
		bad("ADMIN_ADDR unset: the server binds 127.0.0.1:6060 inside its container, which Prometheus cannot reach")
		return errs
	case err != nil:
		bad("ADMIN_ADDR %q: %v", addr, err)
		return errs
	case loopback(host):
		bad("ADMIN_ADDR %q is loopback: Prometheus scrapes it from its own container", addr)
	}
	// The image's own ADMIN_ADDR is what `docker run` binds; compose's is what this file binds.
	ports := []string{port}
	if _, imagePort, err := net.SplitHostPort(st.env["ADMIN_ADDR"]); err == nil && imagePort != port {
		ports = append(ports, imagePort)
	}
	for _, ap := range ports {
		if slices.Contains(st.expose, ap) {
			bad("the image (stage %s) EXPOSEs the admin port %s: `docker run -P` would publish pprof on every host interface", s.Build.Target, ap)
		}
	}
	targets, err := scrapeTargets(p)
	if err != nil {
		errs = append(errs, err)
	} else if want := "server:" + port; !slices.Contains(targets, want) {
		bad("Prometheus scrapes %v, not the admin listener %s", targets, want)
	}
	return errs
}

// scrapeTargets reads the static targets of the configuration the prometheus service mounts.
func scrapeTargets(p *types.Project) ([]string, error) {
	s, ok := p.Services["prometheus"]
	if !ok {
		return nil, nil
	}
	i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeBind && v.Target == prometheusConfig
	})
	if i < 0 {
		return nil, fmt.Errorf("service prometheus: mounts no %s", prometheusConfig)
	}
	b, err := os.ReadFile(s.Volumes[i].Source)
	if err != nil {
		return nil, fmt.Errorf("service prometheus: %w", err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("service prometheus: %s: %w", s.Volumes[i].Source, err)
	}
	var out []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			out = append(out, st.Targets...)
		}
	}
	return out, nil
}

// loopback reports whether a listener on host is reachable from its own container only.
func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// dockerfile is the path of the Dockerfile a service builds.
func dockerfile(s types.ServiceConfig) string {
	df := s.Build.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	if !filepath.IsAbs(df) {
		df = filepath.Join(s.Build.Context, df)
	}
	return df
}

// stage is what one Dockerfile stage declares that the rules read.
type stage struct {
	expose []string          // port numbers, protocol dropped
	env    map[string]string // ENV, later lines winning
}

// fromLine matches a Dockerfile FROM line, with the stage's name when it has one.
var fromLine = regexp.MustCompile(`(?i)^FROM\s+\S+(?:\s+AS\s+(\S+))?\s*$`)

// readStage reads the Dockerfile and, when target is set, the instructions of that stage (the
// whole file otherwise); a target the file does not define is an error.
func readStage(dockerfile, target string) (stage, error) {
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		return stage{}, err
	}
	st := stage{env: map[string]string{}}
	found, in := target == "", target == ""
	for _, line := range instructions(b) {
		if m := fromLine.FindStringSubmatch(line); m != nil {
			in = target == "" || strings.EqualFold(m[1], target)
			found = found || in
			continue
		}
		if !in {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		fields := strings.Fields(rest)
		switch strings.ToUpper(word) {
		case "EXPOSE":
			for _, f := range fields {
				port, _, _ := strings.Cut(f, "/")
				st.expose = append(st.expose, port)
			}
		case "ENV":
			if len(fields) > 0 && !strings.Contains(fields[0], "=") { // ENV KEY value
				st.env[fields[0]] = strings.Trim(strings.Join(fields[1:], " "), `"`)
				continue
			}
			for _, f := range fields {
				if k, v, ok := strings.Cut(f, "="); ok {
					st.env[k] = strings.Trim(v, `"`)
				}
			}
		}
	}
	if !found {
		return stage{}, fmt.Errorf("%s has no stage %q (FROM ... AS %s)", dockerfile, target, target)
	}
	return st, nil
}

// instructions splits a Dockerfile into instructions: comments and blank lines dropped,
// backslash continuations joined.
func instructions(b []byte) []string {
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}
