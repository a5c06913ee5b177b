package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const composeFile = "../../docker-compose.yml"

func TestComposeFile(t *testing.T) {
	abs, err := filepath.Abs(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := check(context.Background(), abs, filepath.Dir(abs)); err != nil {
		t.Fatal(err)
	}
}

// TestCheckFails breaks the real file one way at a time and expects the matching complaint,
// so that each rule is shown to be able to fail.
func TestCheckFails(t *testing.T) {
	orig, repo := composeAndRepo(t)
	tests := []struct {
		name, old, new, want string
	}{
		{"port on all interfaces", `"127.0.0.1:3000:3000"`, `"3000:3000"`, `port 3000:3000 is published on ""`},
		{"moving tag", "image: postgres:17.6-bookworm", "image: postgres:latest", `tag "latest" is not a version`},
		{"no tag", "image: grafana/grafana:12.2.1", "image: grafana/grafana", "has no tag"},
		{"mounted file missing", "./deploy/jaeger/config.yaml:", "./deploy/jaeger/missing.yaml:", "missing.yaml"},
		{"short grace", "stop_grace_period: 20s", "stop_grace_period: 5s", "stop_grace_period 5s is not longer"},
		{"harness always on", "profiles: [bench]", "profiles: []", "want [bench]"},
		{"healthcheck not on readyz", `"http://127.0.0.1:6060/readyz"]`, `"http://127.0.0.1:6060/healthz"]`, "does not probe /readyz"},
		{"grafana admin", "GF_AUTH_ANONYMOUS_ORG_ROLE: Viewer", "GF_AUTH_ANONYMOUS_ORG_ROLE: Admin", "Viewer role"},
		{"unknown key", "stop_grace_period: 20s", "stop_grace_perod: 20s", "stop_grace_perod"},
		{"harness as root", "user: ${BENCH_USER:-65532:65532}", "user: root", "runs as root"},
		{"build target missing", "target: loadtest", "target: harness", `no stage "harness"`},
		{"dockerfile missing", "dockerfile: Dockerfile", "dockerfile: Dockerfile.gone", "dockerfile"},
		{"admin port on all host interfaces", `"127.0.0.1:6060:6060"`, `"6060:6060"`, `port 6060:6060 is published on ""`},
		{"admin listener on loopback", `ADMIN_ADDR: ":6060"`, `ADMIN_ADDR: "127.0.0.1:6060"`, `ADMIN_ADDR "127.0.0.1:6060" is loopback`},
		{"admin listener where Prometheus does not scrape", `ADMIN_ADDR: ":6060"`, `ADMIN_ADDR: ":6061"`, "not the admin listener server:6061"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(orig), tt.old) {
				t.Fatalf("%s does not contain %q any more: update the test", composeFile, tt.old)
			}
			path := filepath.Join(t.TempDir(), "docker-compose.yml")
			if err := os.WriteFile(path, []byte(strings.Replace(string(orig), tt.old, tt.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			err := check(context.Background(), path, repo)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("check = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestDockerfileFails breaks a copy of the Dockerfile the server service builds (and, where
// given, the compose file) and expects the matching complaint.
func TestDockerfileFails(t *testing.T) {
	orig, repo := composeAndRepo(t)
	df, err := os.ReadFile(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	const serverBuild = "dockerfile: Dockerfile\n      target: server"
	tests := []struct {
		name, old, new, composeOld, composeNew, want string
	}{
		{"image exposes the admin port", "EXPOSE 8080\n", "EXPOSE 8080 6060/tcp\n", "", "", "EXPOSEs the admin port 6060"},
		{"image exposes the admin port on a continued line", "EXPOSE 8080\n", "EXPOSE 8080 \\\n\t6060\n", "", "", "EXPOSEs the admin port 6060"},
		{"admin listener left to the server's default", "ENV ADDR=:8080 ADMIN_ADDR=:6060", "ENV ADDR=:8080",
			`      ADMIN_ADDR: ":6060"` + "\n", "", "ADMIN_ADDR unset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for file, text := range map[string]string{tt.old: string(df), serverBuild: string(orig), tt.composeOld: string(orig)} {
				if file != "" && !strings.Contains(text, file) {
					t.Fatalf("%q is not there any more: update the test", file)
				}
			}
			dockerfile := filepath.Join(dir, "Dockerfile")
			if err := os.WriteFile(dockerfile, []byte(strings.Replace(string(df), tt.old, tt.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			compose := strings.Replace(string(orig), serverBuild, "dockerfile: "+dockerfile+"\n      target: server", 1)
			if tt.composeOld != "" {
				compose = strings.Replace(compose, tt.composeOld, tt.composeNew, 1)
			}
			path := filepath.Join(dir, "docker-compose.yml")
			if err := os.WriteFile(path, []byte(compose), 0o644); err != nil {
				t.Fatal(err)
			}
			err := check(context.Background(), path, repo)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("check = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// composeAndRepo reads the real compose file and returns it with the repository's absolute
// path, the folder docker compose runs in.
func composeAndRepo(t *testing.T) ([]byte, string) {
	t.Helper()
	orig, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return orig, repo
}
