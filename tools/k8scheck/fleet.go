package main

import (
	"cmp"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// workers is what the coordinator must agree with: the worker Job and its Service and port.
type workers struct {
	job  *batchv1.Job
	svc  *corev1.Service
	port int32
}

// checkWorkers checks that one Indexed Job runs the workers, parallelism = completions (all N at
// once), its pods in the DNS subdomain of a headless Service that selects them and publishes them
// before they are ready (the coordinator's barrier decides readiness), on the port `loadtest
// worker -listen` serves.
func (m *manifests) checkWorkers(p *problems) (workers, bool) {
	var jobs []object
	for _, o := range m.objects {
		if j, ok := o.obj.(*batchv1.Job); ok && !o.patch && j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion {
			jobs = append(jobs, o)
		}
	}
	if len(jobs) != 1 {
		p.add(m.root, "want one Indexed Job of workers (completionMode: Indexed), found %d", len(jobs))
		return workers{}, false
	}
	id, job := jobs[0].id(), jobs[0].obj.(*batchv1.Job)
	s := job.Spec
	if s.Parallelism == nil || s.Completions == nil || *s.Parallelism != *s.Completions || *s.Completions < 1 {
		p.add(id, "parallelism %s ≠ completions %s: the N workers must run at once", intp(s.Parallelism), intp(s.Completions))
	}
	spec := s.Template.Spec
	svc := m.service(spec.Subdomain)
	if svc == nil {
		p.add(id, "subdomain %q names no Service here: the workers have no DNS names", spec.Subdomain)
		return workers{}, false
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		p.add(id, "Service %s is not headless (clusterIP: None): its name would be one balanced address, not the workers", svc.Name)
	}
	if !svc.Spec.PublishNotReadyAddresses {
		p.add(id, "Service %s does not publish not-ready addresses: the coordinator's barrier cannot name a worker DNS hides", svc.Name)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(s.Template.Labels)) {
		p.add(id, "Service %s selector %v does not select the worker pods %v", svc.Name, svc.Spec.Selector, s.Template.Labels)
	}
	c, ok := runs(spec, "worker")
	if !ok {
		p.add(id, "no container runs `loadtest worker`")
		return workers{}, false
	}
	listen, _ := flagValue(c.Args, "listen")
	_, portStr, err := net.SplitHostPort(listen)
	cport, found := containerPort(spec, portStr)
	if err != nil || !found {
		p.add(id, "-listen %q is not one of the container's ports", listen)
		return workers{}, false
	}
	for _, sp := range svc.Spec.Ports {
		if tp, ok := containerPort(spec, sp.TargetPort.String()); ok && tp == cport {
			return workers{job: job, svc: svc, port: sp.Port}, true
		}
	}
	p.add(id, "Service %s has no port to the workers' -listen port %d", svc.Name, cport)
	return workers{}, false
}

func intp(v *int32) string {
	if v == nil {
		return "unset"
	}
	return fmt.Sprint(*v)
}

// runs finds the container whose first argument is the loadtest subcommand cmd.
func runs(spec corev1.PodSpec, cmd string) (corev1.Container, bool) {
	for _, c := range spec.Containers {
		if len(c.Args) > 0 && c.Args[0] == cmd {
			return c, true
		}
	}
	return corev1.Container{}, false
}

// checkCoordinator checks that a Job runs `loadtest run -workers` naming the worker Service and
// its port (and, with -worker-count, the workers' number), holds the workers' key when they want
// one, writes the run folder to a volume, reads the token from a mounted Secret, and every $(VAR)
// of its arguments is in its environment.
func (m *manifests) checkCoordinator(p *problems, w workers) {
	svc, port := w.svc, w.port
	found := false
	for _, o := range m.objects {
		job, ok := o.obj.(*batchv1.Job)
		if !ok || o.patch {
			continue
		}
		c, ok := runs(job.Spec.Template.Spec, "run")
		list, hasList := flagValue(c.Args, "workers")
		if !ok || !hasList {
			continue
		}
		found = true
		id, spec := o.id(), job.Spec.Template.Spec
		for item := range strings.SplitSeq(list, ",") {
			checkWorkerItem(p, id, strings.TrimSpace(item), svc.Name, port)
		}
		if n, ok := flagValue(c.Args, "worker-count"); ok && n != intp(w.job.Spec.Completions) {
			p.add(id, "-worker-count %s, the worker Job runs %s", n, intp(w.job.Spec.Completions))
		}
		if wc, ok := runs(w.job.Spec.Template.Spec, "worker"); ok && !sameEnvSource(wc, c, workerKey) {
			p.add(id, "%s does not come from the Secret key the workers take it from", workerKey)
		}
		checkMounted(p, id, spec, c, "out", func(v corev1.Volume) bool { return v.PersistentVolumeClaim != nil || v.EmptyDir != nil })
		checkMounted(p, id, spec, c, "token-file", func(v corev1.Volume) bool { return v.Secret != nil })
		checkExpansions(p, id, c)
	}
	if !found {
		p.add(m.root, "no coordinator Job (a container running `loadtest run -workers ...`)")
	}
}

// checkWorkerItem checks that one -workers item names the worker Service (its name, a name under it
// such as a pod's loadtest-workers-0.loadtest-workers, or srv:_control._tcp.NAME) and its port.
func checkWorkerItem(p *problems, id, item, svc string, port int32) {
	host, portStr, err := net.SplitHostPort(item)
	if name, ok := strings.CutPrefix(item, "srv:"); ok || err != nil {
		host, portStr = cmp.Or(name, item), "" // SRV records carry the port
	}
	parts := strings.Split(host, ".")
	for len(parts) > 1 && strings.HasPrefix(parts[0], "_") { // _control._tcp.NAME: an SRV name
		parts = parts[1:]
	}
	if parts[0] != svc && (len(parts) < 2 || parts[1] != svc) {
		p.add(id, "-workers %s does not name the worker Service %s", item, svc)
	}
	if portStr != "" && portStr != fmt.Sprint(port) {
		p.add(id, "-workers %s: port %s, the worker Service's is %d", item, portStr, port)
	}
}

// workerKey is the environment variable of the key the workers require of a coordinator.
const workerKey = "LOADTEST_WORKER_KEY"

// sameEnvSource reports whether a and b take env name from the same Secret key (or neither has it).
func sameEnvSource(a, b corev1.Container, name string) bool {
	ref := func(c corev1.Container) string {
		for _, e := range c.Env {
			if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
			}
		}
		return ""
	}
	return ref(a) == ref(b)
}

// checkMounted checks that the path of -flag lies on a volume of the wanted kind.
func checkMounted(p *problems, id string, spec corev1.PodSpec, c corev1.Container, flagName string, kind func(corev1.Volume) bool) {
	file, ok := flagValue(c.Args, flagName)
	if !ok {
		p.add(id, "no -%s", flagName)
		return
	}
	for _, vm := range c.VolumeMounts {
		if file != vm.MountPath && !strings.HasPrefix(file, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == vm.Name && kind(v) {
				return
			}
		}
	}
	p.add(id, "-%s %s is not on a volume of the right kind (run folder: a PersistentVolumeClaim or emptyDir; token: a Secret)", flagName, file)
}

var expansion = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkExpansions checks that every $(VAR) of the args is in the container's env: the kubelet
// leaves one that is not as it is.
func checkExpansions(p *problems, id string, c corev1.Container) {
	for _, a := range c.Args {
		for _, ref := range expansion.FindAllStringSubmatch(a, -1) {
			if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == ref[1] }) {
				p.add(id, "argument %q refers to $(%s), which is not in its env", a, ref[1])
			}
		}
	}
}

// flagValue returns the value of -name in args (-name=v, -name v, --name=v).
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		k, v, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case k != name:
		case hasValue:
			return v, true
		case i+1 < len(args):
			return args[i+1], true
		}
	}
	return "", false
}

// checkPatches checks that a patch changes an object defined here; the images it sets are pinned;
// a container's args it replaces are the base's plus -signal-cmd and more -scenarios, so the two
// lists cannot drift apart.
func (m *manifests) checkPatches(p *problems) {
	for _, o := range m.objects {
		if !o.patch {
			continue
		}
		patch, ok := o.obj.(*batchv1.Job)
		if !ok {
			p.add(o.id(), "only Job patches are checked: add a rule for this kind")
			continue
		}
		base := m.job(patch.Name)
		if base == nil {
			p.add(o.id(), "patches a Job no manifest here defines")
			continue
		}
		for _, pc := range patch.Spec.Template.Spec.Containers {
			if pc.Image != "" {
				if err := pinned(pc.Image); err != nil {
					p.add(o.id(), "container %s: %v", pc.Name, err)
				}
			}
			i := slices.IndexFunc(base.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == pc.Name })
			if i < 0 {
				p.add(o.id(), "container %s is not in the base Job", pc.Name)
				continue
			}
			if pc.Args != nil && !sameArgs(base.Spec.Template.Spec.Containers[i].Args, pc.Args) {
				p.add(o.id(), "container %s: args %q differ from the base's %q beyond -signal-cmd and -scenarios", pc.Name, pc.Args, base.Spec.Template.Spec.Containers[i].Args)
			}
		}
	}
}

func (m *manifests) job(name string) *batchv1.Job {
	for _, o := range m.objects {
		if j, ok := o.obj.(*batchv1.Job); ok && !o.patch && j.Name == name {
			return j
		}
	}
	return nil
}

// sameArgs reports whether patch is base with -signal-cmd added and the -scenarios list extended.
func sameArgs(base, patch []string) bool {
	patch = slices.DeleteFunc(slices.Clone(patch), func(a string) bool { return strings.HasPrefix(a, "-signal-cmd=") })
	if len(patch) != len(base) {
		return false
	}
	for i := range base {
		b, pa := base[i], patch[i]
		if b != pa && !(strings.HasPrefix(b, "-scenarios=") && strings.HasPrefix(pa, b)) {
			return false
		}
	}
	return true
}
