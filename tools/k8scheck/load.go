package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// standalone are the manifests applied on their own, after the run, rather than through a
// kustomization: every other file must be listed in one.
var standalone = []string{"fetch.yaml"}

// object is one decoded document.
type object struct {
	file  string // relative to the root, slash-separated
	obj   runtime.Object
	patch bool // listed as a kustomization patch: a partial object, checked against its base
}

// kustomization is the part of kustomize's Kustomization these manifests use. It is decoded
// strictly as well: a field kustomize would read that is not here is an error, so a new one
// gets a rule before it is used.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources,omitempty"`
	Patches    []struct {
		Path string `json:"path"`
	} `json:"patches,omitempty"`
	// Images is what `kustomize edit set image` writes: the registry, tag and digest of the
	// images the manifests name (docs/k8s.md).
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

// manifests is every file under the root, decoded.
type manifests struct {
	root    string
	files   []string                 // every .yaml file, relative
	kusts   map[string]kustomization // by directory, relative ("." for the root)
	objects []object
}

// newDecoder decodes the kinds the manifests may hold, strictly: an unknown or duplicated
// field, or an apiVersion/kind pair the API does not have, is an error.
func newDecoder() (runtime.Decoder, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, networkingv1.AddToScheme, rbacv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer(), nil
}

// load reads and strictly decodes every .yaml file under root.
func load(root string) (*manifests, error) {
	m := &manifests{root: root, kusts: map[string]kustomization{}}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		rel, err := filepath.Rel(root, p)
		m.files = append(m.files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", root, err)
	}
	var errs []error
	for _, f := range m.files {
		if path.Base(f) == "kustomization.yaml" {
			errs = append(errs, m.readKustomization(f))
		}
	}
	patches := m.patchFiles()
	dec, err := newDecoder()
	if err != nil {
		return nil, err
	}
	for _, f := range m.files {
		if path.Base(f) != "kustomization.yaml" {
			errs = append(errs, m.readObjects(dec, f, slices.Contains(patches, f)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *manifests) readKustomization(f string) error {
	b, err := os.ReadFile(filepath.Join(m.root, f))
	if err != nil {
		return err
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		return fmt.Errorf("%s: %w", f, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		return fmt.Errorf("%s: %s %s is not a kustomize.config.k8s.io/v1beta1 Kustomization", f, k.APIVersion, k.Kind)
	}
	m.kusts[path.Dir(f)] = k
	return nil
}

// patchFiles are the files the kustomizations list as patches.
func (m *manifests) patchFiles() []string {
	var out []string
	for dir, k := range m.kusts {
		for _, p := range k.Patches {
			out = append(out, path.Clean(path.Join(dir, p.Path)))
		}
	}
	return out
}

// readObjects decodes every document of f.
func (m *manifests) readObjects(dec runtime.Decoder, f string, patch bool) error {
	b, err := os.ReadFile(filepath.Join(m.root, f))
	if err != nil {
		return err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", f, n, err)
		}
		if onlyComments(doc) {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", f, n, err)
		}
		m.objects = append(m.objects, object{file: f, obj: obj, patch: patch})
	}
}

func onlyComments(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			return false
		}
	}
	return true
}

// id names an object in a message: file: Kind/name.
func (o object) id() string {
	name := "?"
	if a, err := meta.Accessor(o.obj); err == nil {
		name = a.GetName()
	}
	return fmt.Sprintf("%s: %s/%s", o.file, o.obj.GetObjectKind().GroupVersionKind().Kind, name)
}
