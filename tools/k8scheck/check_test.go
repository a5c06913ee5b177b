package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const root = "../../deploy/k8s"

func TestManifests(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"k8scheck", root}, os.Getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	t.Log(strings.TrimSpace(out.String()))
	m, err := load(root)
	if err != nil {
		t.Fatal(err)
	}
	// Every kind the docs promise is there, decoded (a rule on a kind never loaded holds
	// vacuously).
	kinds := map[string]int{}
	for _, o := range m.objects {
		kinds[o.obj.GetObjectKind().GroupVersionKind().Kind]++
	}
	for _, k := range []string{"Namespace", "ConfigMap", "Service", "Job", "PersistentVolumeClaim", "StatefulSet", "Pod", "Role", "RoleBinding", "ServiceAccount", "NetworkPolicy"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among the manifests (%v)", k, kinds)
		}
	}
}

// TestCheckFails breaks the real manifests one way at a time and expects the matching
// complaint, so every rule is shown able to fail.
func TestCheckFails(t *testing.T) {
	tests := []struct {
		name, file, old, new, want string
	}{
		{"unknown field", "base/workers.yaml", "backoffLimit: 0", "backofLimit: 0", `unknown field "spec.backofLimit"`},
		{"duplicate field", "base/coordinator.yaml", "  completions: 1\n", "  completions: 1\n  completions: 2\n", `key "completions" already set in map`},
		{"no such apiVersion", "base/coordinator.yaml", "apiVersion: batch/v1\nkind: Job", "apiVersion: batch/v2\nkind: Job", "batch/v2"},
		{"unknown kustomization field", "base/kustomization.yaml", "resources:", "resource:", `unknown field "resource"`},
		{"missing limit", "base/workers.yaml", "            limits:\n              cpu: \"2\"\n              memory: 512Mi\n", "", "container worker: no cpu limit"},
		{"missing request", "target/items.yaml", "            requests:\n              cpu: \"2\"\n              memory: 512Mi\n", "", "container server: no cpu request"},
		{"limit below request", "fetch.yaml", "cpu: 200m", "cpu: 10m", "cpu limit 10m below its request 50m"},
		{"latest tag", "base/workers.yaml", "image: benchharness/loadtest:0.1.0", "image: benchharness/loadtest:latest", "tag latest moves"},
		{"untagged", "base/coordinator.yaml", "image: benchharness/loadtest:0.1.0", "image: benchharness/loadtest", "has no tag"},
		{"external image without digest", "fetch.yaml", "busybox:1.37.0@sha256:bdf57e528e45e4433820e045b29b4597825a1c9e38353532d90a01445013f82e", "busybox:1.37.0", "not built here and has no @sha256 digest"},
		{"patch image latest", "shutdown/coordinator.yaml", "benchharness/loadtest-kubectl:0.1.0", "benchharness/loadtest-kubectl:latest", "tag latest moves"},
		{"runAsNonRoot false", "base/coordinator.yaml", "      securityContext:\n        runAsNonRoot: true", "      securityContext:\n        runAsNonRoot: false", "runAsNonRoot is not true"},
		{"root uid", "target/items.yaml", "runAsUser: 65532", "runAsUser: 0", "runAsUser is not set to a non-zero uid"},
		{"privilege escalation", "base/workers.yaml", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation is not false"},
		{"writable root", "base/coordinator.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem is not true"},
		{"capabilities kept", "target/items.yaml", `drop: ["ALL"]`, `drop: ["NET_RAW"]`, "capabilities do not drop ALL"},
		{"no seccomp", "fetch.yaml", "    seccompProfile:\n      type: RuntimeDefault\n", "", "no RuntimeDefault seccomp profile"},
		{"not Indexed", "base/workers.yaml", "completionMode: Indexed", "completionMode: NonIndexed", "want one Indexed Job of workers"},
		{"parallelism below completions", "base/workers.yaml", "parallelism: 3", "parallelism: 2", "parallelism 2 ≠ completions 3"},
		{"subdomain not the Service", "base/workers.yaml", "subdomain: loadtest-workers", "subdomain: workers", `subdomain "workers" names no Service`},
		{"workers Service not headless", "base/workers.yaml", "  clusterIP: None\n", "", "is not headless"},
		{"workers hidden until ready", "base/workers.yaml", "publishNotReadyAddresses: true", "publishNotReadyAddresses: false", "does not publish not-ready addresses"},
		{"selector selects nothing", "base/workers.yaml", "  selector:\n    app.kubernetes.io/name: benchharness\n    app.kubernetes.io/component: worker\n", "  selector:\n    app.kubernetes.io/name: benchharness\n    app.kubernetes.io/component: workers\n", "matches no pod template"},
		{"StatefulSet selector", "target/items.yaml", "  selector:\n    matchLabels:\n      app.kubernetes.io/name: benchharness\n      app.kubernetes.io/component: server", "  selector:\n    matchLabels:\n      app.kubernetes.io/name: benchharness\n      app.kubernetes.io/component: api", "does not select its own pod template"},
		{"listen port not a container port", "base/workers.yaml", "-listen=:7070", "-listen=:7071", `-listen ":7071" is not one of the container's ports`},
		{"coordinator names another Service", "base/coordinator.yaml", "-workers=loadtest-workers:7070", "-workers=workers:7070", "does not name the worker Service loadtest-workers"},
		{"coordinator on another port", "base/coordinator.yaml", "-workers=loadtest-workers:7070", "-workers=loadtest-workers:7071", "port 7071, the worker Service's is 7070"},
		{"token inline", "base/coordinator.yaml", "-token-file=/var/run/secrets/loadtest/token", "-token=eyJhbGciOiJIUzI1NiJ9.e30.x", "passes a credential on the command line"},
		{"jwt secret inline", "target/items.yaml", "              valueFrom:\n                secretKeyRef: {name: items-server, key: jwt-secret}", "              value: hunter2-hunter2-hunter2-hunter2", "env JWT_SECRET holds a literal value"},
		{"token not from a Secret", "base/coordinator.yaml", "          secret:\n            secretName: loadtest-token\n            defaultMode: 0440", "          emptyDir: {}", "-token-file /var/run/secrets/loadtest/token is not on a volume"},
		{"run folder on the root file system", "base/coordinator.yaml", "            - name: results\n              mountPath: /results", "            - name: results\n              mountPath: /data", "-out /results is not on a volume"},
		{"missing settings key", "base/coordinator.yaml", "key: PROFILE}", "key: PROFIL}", "ConfigMap loadtest-settings has no key PROFIL"},
		{"expansion without env", "base/coordinator.yaml", "-profile=$(PROFILE)", "-profile=$(PROFILES)", "refers to $(PROFILES)"},
		{"manifest never applied", "base/kustomization.yaml", "  - coordinator.yaml\n", "", "base/coordinator.yaml: not listed in any kustomization.yaml"},
		{"patch drifts from its base", "shutdown/coordinator.yaml", "            - -profile=$(PROFILE)\n", "", "differ from the base's"},
		{"worker count not the Job's", "base/coordinator.yaml", "-worker-count=3", "-worker-count=2", "-worker-count 2, the worker Job runs 3"},
		{"worker key from another Secret", "base/coordinator.yaml", "secretKeyRef: {name: loadtest-worker-key, key: key}", "secretKeyRef: {name: other-key, key: key}", "LOADTEST_WORKER_KEY does not come from the Secret key the workers take it from"},
		{"worker key inline", "base/workers.yaml", "              valueFrom:\n                secretKeyRef: {name: loadtest-worker-key, key: key}", "              value: not-a-secret-at-all", "env LOADTEST_WORKER_KEY holds a literal value"},
		{"job retried", "base/coordinator.yaml", "backoffLimit: 0", "backoffLimit: 3", "backoffLimit must be 0"},
		{"image override to latest", "base/kustomization.yaml", "resources:", "images:\n  - name: benchharness/loadtest\n    newName: registry.example.com/benchharness/loadtest\n    newTag: latest\nresources:", "images: benchharness/loadtest: image registry.example.com/benchharness/loadtest:latest: tag latest moves"},
		{"claim not defined", "fetch.yaml", "claimName: loadtest-results", "claimName: results", "no PersistentVolumeClaim results here"},
		{"policy field misspelt", "target/networkpolicy.yaml", "policyTypes:", "policyType:", `unknown field "spec.policyType"`},
		{"admin listener on loopback", "target/items.yaml", `value: ":6060"`, `value: "127.0.0.1:6060"`, `ADMIN_ADDR "127.0.0.1:6060" is loopback`},
		{"admin listener left to its default", "target/items.yaml", "            - name: ADMIN_ADDR\n              value: \":6060\"\n", "", "ADMIN_ADDR unset: the server binds 127.0.0.1"},
		{"admin listener on a port the pod does not declare", "target/items.yaml", `value: ":6060"`, `value: ":6061"`, `ADMIN_ADDR ":6061" is not one of the container's ports`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyTree(t, root)
			path := filepath.Join(dir, tt.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.old) {
				t.Fatalf("%s does not contain %q any more: update the test", tt.file, tt.old)
			}
			if err := os.WriteFile(path, []byte(strings.Replace(string(b), tt.old, tt.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := load(dir)
			if err == nil {
				err = check(m)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error with %q, got: %v", tt.want, err)
			}
			t.Log(err)
		})
	}
}

func TestPinned(t *testing.T) {
	tests := []struct{ image, want string }{
		{"benchharness/server:0.1.0", ""},
		{"registry.example.com:5000/team/benchharness/loadtest:1.2.3", ""},
		{"registry.example.com:5000/benchharness/loadtest", "has no tag"},
		{"busybox:1.37.0@sha256:" + strings.Repeat("a", 64), ""},
		{"busybox@sha256:" + strings.Repeat("a", 64), "has no tag"},
		{"busybox:1.37.0@sha256:abc", "is not sha256:<64 hex>"},
		{"library/postgres:17", "has no @sha256 digest"},
		{"notbenchharness/loadtest:1.0", "has no @sha256 digest"},
	}
	for _, tt := range tests {
		err := pinned(tt.image)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("pinned(%s) = %v, want %q", tt.image, err, tt.want)
		}
	}
}

func TestWorkerItem(t *testing.T) {
	tests := []struct{ item, want string }{
		{"loadtest-workers:7070", ""},
		{"loadtest-workers.loadtest.svc.cluster.local:7070", ""},
		{"loadtest-workers-0.loadtest-workers:7070", ""},
		{"srv:loadtest-workers", ""},
		{"srv:_control._tcp.loadtest-workers.loadtest.svc.cluster.local", ""},
		{"srv:_control._tcp.other", "does not name"},
		{"srv:other", "does not name"},
		{"other:7070", "does not name"},
		{"loadtest-workers:8080", "port 8080"},
	}
	for _, tt := range tests {
		var p problems
		checkWorkerItem(&p, "x", tt.item, "loadtest-workers", 7070)
		err := p.err()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.item, err, tt.want)
		}
	}
}

// copyTree copies the manifests to a temporary directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
