package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// build renders a kustomization with kustomize's own library (what `kubectl apply -k` runs) and
// decodes the result strictly, as load does the files.
func build(t *testing.T, dir string) *manifests {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := newDecoder()
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests{root: dir + " (built)", kusts: map[string]kustomization{}}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return m
		}
		if err != nil {
			t.Fatal(err)
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s built: %v", dir, err)
		}
		m.objects = append(m.objects, object{file: filepath.Base(dir) + " (built)", obj: obj})
	}
}

// TestKustomizeBuilds renders every kustomization: the output is what the cluster gets, so
// every rule must hold on it too (a patch that drops a limit, a namespace left unset), and
// the shutdown overlay's coordinator is the base's with the signal command, its service account
// and its image, the base's environment and volumes kept.
func TestKustomizeBuilds(t *testing.T) {
	for _, dir := range []string{"base", "shutdown", "target"} {
		t.Run(dir, func(t *testing.T) {
			m := build(t, filepath.Join(root, dir))
			if dir == "target" {
				var p problems
				for _, o := range m.objects {
					if tpl, ok := podTemplate(o.obj); ok {
						checkPod(&p, o.id(), tpl.Spec)
					}
					if svc, ok := o.obj.(*corev1.Service); ok {
						m.checkService(&p, o.id(), svc)
					}
				}
				if err := p.err(); err != nil {
					t.Fatal(err)
				}
			} else if err := check(m); err != nil {
				t.Fatal(err)
			}
			for _, o := range m.objects {
				a, _ := meta.Accessor(o.obj)
				if _, isNS := o.obj.(*corev1.Namespace); !isNS && a.GetNamespace() != "loadtest" {
					t.Errorf("%s: namespace %q, want loadtest", o.id(), a.GetNamespace())
				}
			}
			if dir == "shutdown" {
				signalledCoordinator(t, m)
			}
		})
	}
}

// TestKustomizeBuildsTogether renders base and target as they land in one namespace: the
// NetworkPolicies of each name the other's pods, so only together do they show that the server's
// admin port and the workers' port are shut to all but the coordinator (and Prometheus), and
// open to it.
func TestKustomizeBuildsTogether(t *testing.T) {
	for _, dir := range []string{"base", "shutdown"} {
		t.Run(dir+"+target", func(t *testing.T) {
			m := build(t, filepath.Join(root, dir))
			m.objects = append(m.objects, build(t, filepath.Join(root, "target")).objects...)
			if err := check(m); err != nil {
				t.Fatal(err)
			}
			policies := 0
			for _, o := range m.objects {
				if _, ok := o.obj.(*networkingv1.NetworkPolicy); ok {
					policies++
				}
			}
			if policies != 2 {
				t.Fatalf("%d NetworkPolicies in the build, want the workers' and the server's", policies)
			}
		})
	}
}

func signalledCoordinator(t *testing.T, m *manifests) {
	t.Helper()
	job := m.job("loadtest-coordinator")
	if job == nil {
		t.Fatal("no coordinator Job in the shutdown build")
	}
	spec := job.Spec.Template.Spec
	c := spec.Containers[0]
	cmd, _ := flagValue(c.Args, "signal-cmd")
	scenarios, _ := flagValue(c.Args, "scenarios")
	if !strings.HasPrefix(cmd, "kubectl delete pod items-0") || !strings.HasSuffix(scenarios, ",shutdown") ||
		spec.ServiceAccountName != "loadtest-coordinator" || !strings.Contains(c.Image, "loadtest-kubectl") {
		t.Errorf("shutdown coordinator: args %q, service account %q, image %s", c.Args, spec.ServiceAccountName, c.Image)
	}
	for _, env := range []string{"TARGET", "ADMIN", "DATABASE_URL", "HOME"} {
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == env }) {
			t.Errorf("shutdown coordinator: no env %s after the merge: %v", env, c.Env)
		}
	}
	if len(spec.Volumes) != 3 || c.Resources.Limits.Cpu().IsZero() {
		t.Errorf("shutdown coordinator: volumes %v, limits %v: the patch must keep the base's", spec.Volumes, c.Resources.Limits)
	}
}
