package main

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// problems collects every broken rule, one line each.
type problems []string

func (p *problems) add(id, format string, a ...any) {
	*p = append(*p, id+": "+fmt.Sprintf(format, a...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New(strings.Join(p, "\n"))
}

// check applies every rule to the decoded manifests.
func check(m *manifests) error {
	var p problems
	m.checkListed(&p)
	for _, o := range m.objects {
		if o.patch {
			continue
		}
		if tpl, ok := podTemplate(o.obj); ok {
			checkPod(&p, o.id(), tpl.Spec)
			m.checkRefs(&p, o.id(), tpl.Spec)
		}
		switch t := o.obj.(type) {
		case *corev1.Service:
			m.checkService(&p, o.id(), t)
		case *appsv1.StatefulSet:
			m.checkStatefulSet(&p, o.id(), t)
		case *batchv1.Job:
			checkJob(&p, o.id(), t)
		}
	}
	w, ok := m.checkWorkers(&p)
	if ok {
		m.checkCoordinator(&p, w)
	}
	m.checkNetworkPolicies(&p, w, ok)
	m.checkPatches(&p)
	return p.err()
}

// podTemplate returns the pod an object runs, with its labels.
func podTemplate(obj runtime.Object) (corev1.PodTemplateSpec, bool) {
	switch t := obj.(type) {
	case *batchv1.Job:
		return t.Spec.Template, true
	case *appsv1.StatefulSet:
		return t.Spec.Template, true
	case *appsv1.Deployment:
		return t.Spec.Template, true
	case *corev1.Pod:
		return corev1.PodTemplateSpec{ObjectMeta: t.ObjectMeta, Spec: t.Spec}, true
	}
	return corev1.PodTemplateSpec{}, false
}

// templates returns every pod template of the full objects.
func (m *manifests) templates() []corev1.PodTemplateSpec {
	var out []corev1.PodTemplateSpec
	for _, o := range m.objects {
		if tpl, ok := podTemplate(o.obj); ok && !o.patch {
			out = append(out, tpl)
		}
	}
	return out
}

// checkListed checks that every manifest is applied by a kustomization (or is a known standalone
// one), and everything a kustomization lists exists.
func (m *manifests) checkListed(p *problems) {
	listed := map[string]bool{}
	for dir, k := range m.kusts {
		id := path.Join(dir, "kustomization.yaml")
		for _, r := range k.Resources {
			f := path.Clean(path.Join(dir, r))
			if _, isKust := m.kusts[f]; isKust {
				continue
			}
			if !slices.Contains(m.files, f) {
				p.add(id, "resource %s is neither a manifest nor a directory with a kustomization.yaml", r)
			}
			listed[f] = true
		}
		for _, pt := range k.Patches {
			f := path.Clean(path.Join(dir, pt.Path))
			if !slices.Contains(m.files, f) {
				p.add(id, "patch %s does not exist", pt.Path)
			}
			listed[f] = true
		}
	}
	m.checkImageOverrides(p)
	for _, f := range m.files {
		if path.Base(f) != "kustomization.yaml" && !listed[f] && !slices.Contains(standalone, f) {
			p.add(f, "not listed in any kustomization.yaml, so never applied")
		}
	}
}

// checkImageOverrides checks that an image a kustomization rewrites stays pinned (a tag that is a
// version, a digest for an image not built here).
func (m *manifests) checkImageOverrides(p *problems) {
	for dir, k := range m.kusts {
		for _, img := range k.Images {
			ref := cmp.Or(img.NewName, img.Name)
			if img.NewTag != "" {
				ref += ":" + img.NewTag
			}
			if img.Digest != "" {
				ref += "@" + img.Digest
			}
			if err := pinned(ref); err != nil {
				p.add(path.Join(dir, "kustomization.yaml"), "images: %s: %v", img.Name, err)
			}
		}
	}
}

// checkService checks that a Service selects the pods of some template here, on ports they have.
func (m *manifests) checkService(p *problems, id string, svc *corev1.Service) {
	if len(svc.Spec.Selector) == 0 {
		p.add(id, "no selector")
		return
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var pods []corev1.PodTemplateSpec
	for _, tpl := range m.templates() {
		if sel.Matches(labels.Set(tpl.Labels)) {
			pods = append(pods, tpl)
		}
	}
	if len(pods) == 0 {
		p.add(id, "selector %s matches no pod template", sel)
		return
	}
	for _, port := range svc.Spec.Ports {
		target := port.TargetPort.String()
		if port.TargetPort.Type == intstr.Int && port.TargetPort.IntVal == 0 {
			target = fmt.Sprint(port.Port) // unset: the Service's own port
		}
		for _, tpl := range pods {
			if _, ok := containerPort(tpl.Spec, target); !ok {
				p.add(id, "port %s: target port %s is not a port of the pods it selects", port.Name, target)
			}
		}
	}
}

// containerPort finds a container port by name or number.
func containerPort(spec corev1.PodSpec, nameOrNumber string) (int32, bool) {
	for _, c := range spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == nameOrNumber || fmt.Sprint(cp.ContainerPort) == nameOrNumber {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

func (m *manifests) checkStatefulSet(p *problems, id string, sts *appsv1.StatefulSet) {
	selects(p, id, sts.Spec.Selector, sts.Spec.Template.Labels)
	if svc := m.service(sts.Spec.ServiceName); svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		p.add(id, "serviceName %q is not a headless Service here", sts.Spec.ServiceName)
	}
}

// selects checks that the selector matches the template's labels.
func selects(p *problems, id string, ls *metav1.LabelSelector, tpl map[string]string) {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil || ls == nil || sel.Empty() || !sel.Matches(labels.Set(tpl)) {
		p.add(id, "selector %s does not select its own pod template's labels %v", metav1.FormatLabelSelector(ls), tpl)
	}
}

// checkJob checks that a Job is bounded (no retries that would load the target twice, a
// deadline), is never restarted in place, and has a selector of its own.
func checkJob(p *problems, id string, job *batchv1.Job) {
	s := job.Spec
	if s.ManualSelector != nil && *s.ManualSelector {
		p.add(id, "manualSelector: a Job's pods are selected by the labels the controller sets")
	}
	if s.BackoffLimit == nil || *s.BackoffLimit != 0 {
		p.add(id, "backoffLimit must be 0: a retried generator or coordinator runs a second, unplanned attack")
	}
	if s.ActiveDeadlineSeconds == nil {
		p.add(id, "no activeDeadlineSeconds: a forgotten Job must end on its own")
	}
	if rp := s.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyNever {
		p.add(id, "restartPolicy %q, want Never", rp)
	}
}

func (m *manifests) service(name string) *corev1.Service {
	for _, o := range m.objects {
		if svc, ok := o.obj.(*corev1.Service); ok && !o.patch && svc.Name == name {
			return svc
		}
	}
	return nil
}

func (m *manifests) configMap(name string) *corev1.ConfigMap {
	for _, o := range m.objects {
		if cm, ok := o.obj.(*corev1.ConfigMap); ok && !o.patch && cm.Name == name {
			return cm
		}
	}
	return nil
}

func (m *manifests) hasClaim(name string) bool {
	for _, o := range m.objects {
		if pvc, ok := o.obj.(*corev1.PersistentVolumeClaim); ok && !o.patch && pvc.Name == name {
			return true
		}
	}
	return false
}

// checkRefs checks that the ConfigMap keys and the volume claims a pod names are here.
func (m *manifests) checkRefs(p *problems, id string, spec corev1.PodSpec) {
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		for _, e := range c.Env {
			ref := e.ValueFrom
			if ref == nil || ref.ConfigMapKeyRef == nil || (ref.ConfigMapKeyRef.Optional != nil && *ref.ConfigMapKeyRef.Optional) {
				continue
			}
			cm := m.configMap(ref.ConfigMapKeyRef.Name)
			if cm == nil {
				p.add(id, "env %s: no ConfigMap %s here", e.Name, ref.ConfigMapKeyRef.Name)
			} else if _, ok := cm.Data[ref.ConfigMapKeyRef.Key]; !ok {
				p.add(id, "env %s: ConfigMap %s has no key %s", e.Name, cm.Name, ref.ConfigMapKeyRef.Key)
			}
		}
	}
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim != nil && !m.hasClaim(v.PersistentVolumeClaim.ClaimName) {
			p.add(id, "volume %s: no PersistentVolumeClaim %s here", v.Name, v.PersistentVolumeClaim.ClaimName)
		}
	}
}
