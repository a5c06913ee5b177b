package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ownImages are the repository paths of the images built from this repo's Dockerfile: pinned by
// a version tag the operator sets (docs/k8s.md), since their digest is only known once built.
// Every other image is pinned by tag and digest.
var ownImages = regexp.MustCompile(`(^|/)benchharness/[a-z0-9-]+$`)

var digest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// secretName is an environment variable or flag whose value is a credential: it must come from
// a Secret, never a literal in the manifest.
var secretName = regexp.MustCompile(`(?i)(secret|token|password|passwd|database_url|database-url|dsn|(^|[_-])key$)`)

// checkPod checks for the restricted security profile, requests and limits, pinned images and no
// inline secret, for every container of the pod.
func checkPod(p *problems, id string, spec corev1.PodSpec) {
	sc := spec.SecurityContext
	podSeccomp := false
	switch {
	case sc == nil:
		p.add(id, "no pod securityContext")
	default:
		if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			p.add(id, "runAsNonRoot is not true")
		}
		if sc.RunAsUser == nil || *sc.RunAsUser == 0 {
			p.add(id, "runAsUser is not set to a non-zero uid")
		}
		podSeccomp = sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		cid := fmt.Sprintf("%s: container %s", id, c.Name)
		if err := pinned(c.Image); err != nil {
			p.add(cid, "%v", err)
		}
		checkResources(p, cid, c.Resources)
		checkContainerSecurity(p, cid, c.SecurityContext, podSeccomp)
		checkNoInlineSecret(p, cid, c)
	}
}

// pinned checks that an image has a tag that is a version (not latest), and for an image not
// built here a sha256 digest too.
func pinned(image string) error {
	ref, dgst, hasDigest := strings.Cut(image, "@")
	name, tag := ref, ""
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		name, tag = ref[:i], ref[i+1:]
	}
	switch {
	case tag == "":
		return fmt.Errorf("image %s has no tag", image)
	case tag == "latest":
		return fmt.Errorf("image %s: tag latest moves", image)
	case hasDigest && !digest.MatchString(dgst):
		return fmt.Errorf("image %s: digest %q is not sha256:<64 hex>", image, dgst)
	case !hasDigest && !ownImages.MatchString(name):
		return fmt.Errorf("image %s is not built here and has no @sha256 digest", image)
	}
	return nil
}

// checkResources checks that CPU and memory have requests and limits, limits not below requests.
func checkResources(p *problems, id string, r corev1.ResourceRequirements) {
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := r.Requests[res]
		lim, hasLim := r.Limits[res]
		switch {
		case !hasReq:
			p.add(id, "no %s request", res)
		case !hasLim:
			p.add(id, "no %s limit", res)
		case lim.Cmp(req) < 0:
			p.add(id, "%s limit %s below its request %s", res, lim.String(), req.String())
		}
	}
}

// checkContainerSecurity checks what Pod Security's restricted profile asks of a container, plus
// a read-only root file system.
func checkContainerSecurity(p *problems, id string, sc *corev1.SecurityContext, podSeccomp bool) {
	if sc == nil {
		p.add(id, "no securityContext")
		return
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p.add(id, "allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		p.add(id, "privileged")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		p.add(id, "readOnlyRootFilesystem is not true")
	}
	if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
		p.add(id, "runAsNonRoot is false")
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		p.add(id, "runAsUser 0 (root)")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		p.add(id, "capabilities do not drop ALL")
	} else if len(sc.Capabilities.Add) > 0 {
		p.add(id, "adds capabilities %v", sc.Capabilities.Add)
	}
	ownSeccomp := sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	if !podSeccomp && !ownSeccomp {
		p.add(id, "no RuntimeDefault seccomp profile (pod or container)")
	}
}

// checkNoInlineSecret checks that credentials come from a Secret (env valueFrom, a mounted file):
// one in an env value or a flag is in plain text in the manifest and in `kubectl get -o yaml`.
func checkNoInlineSecret(p *problems, id string, c corev1.Container) {
	for _, e := range c.Env {
		if e.Value != "" && secretName.MatchString(e.Name) {
			p.add(id, "env %s holds a literal value: take it from a Secret", e.Name)
		}
	}
	// Even $(VAR) from a Secret is expanded into the process's arguments, which any process
	// of the node may read: a credential travels in a file or the environment.
	for i, a := range slices.Concat(c.Command, c.Args) {
		flagName, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && secretName.MatchString(flagName) && !strings.HasSuffix(flagName, "-file") {
			p.add(id, "argument %d (-%s) passes a credential on the command line: use a file from a Secret (-token-file) or an env valueFrom", i, flagName)
		}
	}
}
