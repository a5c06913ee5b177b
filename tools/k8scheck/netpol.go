package main

import (
	"fmt"
	"net"
	"regexp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// namespaceNameLabel is the label the API server sets on every namespace to its name: the one
// namespace selector that names a namespace rather than whatever carries some label.
const namespaceNameLabel = "kubernetes.io/metadata.name"

// serverImage is the items server's image, from any registry, with any tag or digest.
var serverImage = regexp.MustCompile(`(^|/)benchharness/server(:[^/@]+)?(@sha256:[0-9a-f]+)?$`)

// pod is a pod template with what the network rules need to know of it.
type pod struct {
	id          string
	obj         runtime.Object
	namespace   string // empty in the files (the kustomization sets it)
	tpl         corev1.PodTemplateSpec
	coordinator bool
}

// guard is a port only the coordinator (and, with scraper, a Prometheus named by namespace and
// labels) may reach.
type guard struct {
	pod     pod
	port    corev1.ContainerPort
	what    string
	scraper bool
}

// need is a connection the run cannot do without: from's pods reach port on to's.
type need struct {
	from []pod
	to   pod
	port corev1.ContainerPort
	what string
}

// checkNetworkPolicies checks that the workers' control port (it runs the attack it is sent) and
// the server's admin listener (pprof, no authentication) are isolated by a NetworkPolicy that
// admits the coordinator, for the admin port also a Prometheus named by namespace and pod labels,
// and nobody else; and the policies still let the run through (the coordinator to both, the
// workers and the coordinator to the server's API).
func (m *manifests) checkNetworkPolicies(p *problems, w workers, haveWorkers bool) {
	pods := m.pods()
	var coords, generators []pod
	for _, pd := range pods {
		if pd.coordinator {
			coords = append(coords, pd)
		}
		if haveWorkers && pd.obj == runtime.Object(w.job) {
			generators = append(generators, pd)
		}
	}
	var guards []guard
	var needs []need
	for _, wp := range generators {
		if port, ok := listenPort(wp.tpl.Spec, "worker"); ok {
			guards = append(guards, guard{pod: wp, port: port, what: "the workers' control port"})
			needs = append(needs, need{from: coords, to: wp, port: port, what: "the workers' control port"})
		}
	}
	for _, sp := range pods {
		admin, api, ok := serverPorts(p, sp)
		if !ok {
			continue
		}
		guards = append(guards, guard{pod: sp, port: admin, what: "the server's admin port", scraper: true})
		needs = append(needs,
			need{from: coords, to: sp, port: admin, what: "the server's admin port"},
			need{from: slices.Concat(coords, generators), to: sp, port: api, what: "the server's API port"})
	}
	for _, g := range guards {
		m.checkGuard(p, pods, g)
	}
	for _, n := range needs {
		pols := m.isolating(n.to)
		for _, from := range n.from {
			if !admitted(pols, n.port, from) {
				p.add(n.to.id, "the NetworkPolicies keep %s from %s %d", from.id, n.what, n.port.ContainerPort)
			}
		}
	}
}

// checkGuard checks that some policy isolates the guarded port, and every rule that opens it
// names the coordinator's pods or, where allowed, one Prometheus.
func (m *manifests) checkGuard(p *problems, pods []pod, g guard) {
	pols := m.isolating(g.pod)
	if len(pols) == 0 {
		p.add(g.pod.id, "no NetworkPolicy isolates %s %d for ingress: every pod of the cluster reaches it", g.what, g.port.ContainerPort)
		return
	}
	for _, pol := range pols {
		for i, rule := range pol.obj.Spec.Ingress {
			if !covers(rule.Ports, g.port) {
				continue
			}
			rid := fmt.Sprintf("%s: ingress rule %d", pol.id, i)
			if len(rule.From) == 0 {
				p.add(rid, "admits every pod and address to %s %d (no from)", g.what, g.port.ContainerPort)
			}
			for _, peer := range rule.From {
				checkPeer(p, rid, pods, pol.namespace, peer, g)
			}
		}
	}
}

// checkPeer checks that a peer that opens a guarded port is the coordinator's pods, or (scraper)
// the pods with given labels in one namespace named by kubernetes.io/metadata.name.
func checkPeer(p *problems, rid string, pods []pod, ns string, peer networkingv1.NetworkPolicyPeer, g guard) {
	switch {
	case peer.IPBlock != nil:
		p.add(rid, "ipBlock %s admits addresses to %s, not the coordinator's pods", peer.IPBlock.CIDR, g.what)
	case peer.NamespaceSelector != nil && !g.scraper:
		p.add(rid, "admits pods of namespaces %s to %s: only the coordinator may reach it", metav1.FormatLabelSelector(peer.NamespaceSelector), g.what)
	case peer.NamespaceSelector != nil:
		if name := peer.NamespaceSelector.MatchLabels[namespaceNameLabel]; name == "" || len(peer.NamespaceSelector.MatchLabels) != 1 || len(peer.NamespaceSelector.MatchExpressions) > 0 {
			p.add(rid, "namespaceSelector %s is not one namespace by name (%s): it admits pods of any namespace carrying those labels to %s", metav1.FormatLabelSelector(peer.NamespaceSelector), namespaceNameLabel, g.what)
		}
		if peer.PodSelector == nil || emptySelector(peer.PodSelector) {
			p.add(rid, "admits every pod of namespaces %s to %s: name the Prometheus pods with a podSelector in the same peer", metav1.FormatLabelSelector(peer.NamespaceSelector), g.what)
		}
	case peer.PodSelector != nil:
		sel, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
		if err != nil || sel.Empty() {
			p.add(rid, "podSelector %s admits every pod of the namespace to %s", metav1.FormatLabelSelector(peer.PodSelector), g.what)
			return
		}
		coordinator := false
		for _, pd := range pods {
			if !sameNamespace(pd.namespace, ns) || !sel.Matches(labels.Set(pd.tpl.Labels)) {
				continue
			}
			if !pd.coordinator {
				p.add(rid, "podSelector %s admits %s to %s: only the coordinator may reach it", sel, pd.id, g.what)
			}
			coordinator = coordinator || pd.coordinator
		}
		if !coordinator {
			p.add(rid, "podSelector %s opens %s to no coordinator pod here", sel, g.what)
		}
	}
}

// policy is a NetworkPolicy with where it came from.
type policy struct {
	id, namespace string
	obj           *networkingv1.NetworkPolicy
}

// isolating returns the NetworkPolicies that select pd for ingress: once one does, the pod takes
// only what some rule of them admits (plus its own node's traffic).
func (m *manifests) isolating(pd pod) []policy {
	var out []policy
	for _, o := range m.objects {
		np, ok := o.obj.(*networkingv1.NetworkPolicy)
		if !ok || o.patch || !sameNamespace(np.Namespace, pd.namespace) {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(pd.tpl.Labels)) {
			continue
		}
		// No policyTypes: every policy affects ingress (the API's default).
		if len(np.Spec.PolicyTypes) == 0 || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			out = append(out, policy{id: o.id(), namespace: np.Namespace, obj: np})
		}
	}
	return out
}

// covers reports whether a rule's ports include the container port (no ports: all of them).
func covers(ports []networkingv1.NetworkPolicyPort, cp corev1.ContainerPort) bool {
	if len(ports) == 0 {
		return true
	}
	for _, np := range ports {
		if protocol(np.Protocol) != protocol(&cp.Protocol) {
			continue
		}
		switch {
		case np.Port == nil:
			return true
		case np.Port.Type == intstr.String:
			if np.Port.StrVal == cp.Name {
				return true
			}
		default:
			hi := np.Port.IntVal
			if np.EndPort != nil {
				hi = *np.EndPort
			}
			if np.Port.IntVal <= cp.ContainerPort && cp.ContainerPort <= hi {
				return true
			}
		}
	}
	return false
}

// protocol defaults to TCP, as the API does for both kinds of port.
func protocol(p *corev1.Protocol) corev1.Protocol {
	if p == nil || *p == "" {
		return corev1.ProtocolTCP
	}
	return *p
}

// admitted reports whether from's pods reach port on a pod isolated by pols (none: reachable by
// all).
func admitted(pols []policy, port corev1.ContainerPort, from pod) bool {
	if len(pols) == 0 {
		return true
	}
	for _, pol := range pols {
		for _, rule := range pol.obj.Spec.Ingress {
			if !covers(rule.Ports, port) {
				continue
			}
			if len(rule.From) == 0 {
				return true
			}
			for _, peer := range rule.From {
				if peer.PodSelector == nil || peer.NamespaceSelector != nil || peer.IPBlock != nil || !sameNamespace(pol.namespace, from.namespace) {
					continue
				}
				if sel, err := metav1.LabelSelectorAsSelector(peer.PodSelector); err == nil && sel.Matches(labels.Set(from.tpl.Labels)) {
					return true
				}
			}
		}
	}
	return false
}

// serverPorts checks that a container of the items server image binds ADDR and ADMIN_ADDR to
// ports the pod declares, on every interface (the server's default is loopback, which no other
// pod reaches), and returns those ports.
func serverPorts(p *problems, pd pod) (admin, api corev1.ContainerPort, ok bool) {
	for _, c := range pd.tpl.Spec.Containers {
		if !serverImage.MatchString(c.Image) {
			continue
		}
		cid := fmt.Sprintf("%s: container %s", pd.id, c.Name)
		var ports [2]corev1.ContainerPort
		ok = true
		for i, env := range []string{"ADMIN_ADDR", "ADDR"} {
			addr := envValue(c, env)
			host, port, err := net.SplitHostPort(addr)
			cp, found := containerPortOf(c, port)
			switch {
			case addr == "":
				p.add(cid, "%s unset: the server binds 127.0.0.1, which no other pod reaches", env)
				ok = false
			case err != nil || !found:
				p.add(cid, "%s %q is not one of the container's ports", env, addr)
				ok = false
			case loopback(host):
				p.add(cid, "%s %q is loopback: no other pod reaches it", env, addr)
				ok = false
			}
			ports[i] = cp
		}
		return ports[0], ports[1], ok
	}
	return corev1.ContainerPort{}, corev1.ContainerPort{}, false
}

// listenPort is the container port that the container running the loadtest subcommand cmd
// serves with -listen.
func listenPort(spec corev1.PodSpec, cmd string) (corev1.ContainerPort, bool) {
	c, ok := runs(spec, cmd)
	if !ok {
		return corev1.ContainerPort{}, false
	}
	listen, _ := flagValue(c.Args, "listen")
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return corev1.ContainerPort{}, false
	}
	return containerPortOf(c, port)
}

// containerPortOf finds a container's port by number.
func containerPortOf(c corev1.Container, number string) (corev1.ContainerPort, bool) {
	for _, cp := range c.Ports {
		if fmt.Sprint(cp.ContainerPort) == number {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

// envValue is a literal env value of c ("" when unset or taken from elsewhere).
func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// pods returns every pod template of the full objects, the coordinator's marked.
func (m *manifests) pods() []pod {
	var out []pod
	for _, o := range m.objects {
		tpl, ok := podTemplate(o.obj)
		if !ok || o.patch {
			continue
		}
		ns := ""
		if a, err := meta.Accessor(o.obj); err == nil {
			ns = a.GetNamespace()
		}
		c, runsRun := runs(tpl.Spec, "run")
		_, hasWorkers := flagValue(c.Args, "workers")
		out = append(out, pod{id: o.id(), obj: o.obj, namespace: ns, tpl: tpl, coordinator: runsRun && hasWorkers})
	}
	return out
}

// loopback reports whether a listener on host is reachable from its own pod only.
func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

func sameNamespace(a, b string) bool { return a == "" || b == "" || a == b }

func emptySelector(s *metav1.LabelSelector) bool {
	return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}
