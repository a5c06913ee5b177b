package main

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestNetworkPolicyFails breaks the real NetworkPolicies one way at a time, on the decoded
// manifests, and expects the matching complaint: a policy missing, one that admits too much,
// and one that shuts the run out are each caught.
func TestNetworkPolicyFails(t *testing.T) {
	const (
		workersPolicy = "loadtest-workers"
		serverPolicy  = "items"
	)
	coordinator := map[string]string{"app.kubernetes.io/name": "benchharness", "app.kubernetes.io/component": "coordinator"}
	prometheus := networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{namespaceNameLabel: "monitoring"}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "prometheus"}},
	}
	udpProtocol := corev1.ProtocolUDP
	port := func(p intstr.IntOrString) []networkingv1.NetworkPolicyPort {
		return []networkingv1.NetworkPolicyPort{{Port: &p}}
	}
	tests := []struct {
		name   string
		change func(t *testing.T, m *manifests)
		want   string
	}{
		{"workers' policy dropped", func(t *testing.T, m *manifests) { drop(t, m, workersPolicy) },
			"no NetworkPolicy isolates the workers' control port 7070"},
		{"server's policy dropped", func(t *testing.T, m *manifests) { drop(t, m, serverPolicy) },
			"no NetworkPolicy isolates the server's admin port 6060"},
		{"workers' policy selects other pods", func(t *testing.T, m *manifests) {
			netpol(t, m, workersPolicy).Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] = "workers"
		}, "no NetworkPolicy isolates the workers' control port"},
		{"server's policy for egress only", func(t *testing.T, m *manifests) {
			netpol(t, m, serverPolicy).Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
		}, "no NetworkPolicy isolates the server's admin port"},
		{"workers' port from everything", func(t *testing.T, m *manifests) {
			rule(t, m, workersPolicy, "control").From = nil
		}, "admits every pod and address to the workers' control port"},
		{"admin port from everything", func(t *testing.T, m *manifests) {
			rule(t, m, serverPolicy, "admin").From = nil
		}, "admits every pod and address to the server's admin port"},
		{"admin port from the whole namespace", func(t *testing.T, m *manifests) {
			rule(t, m, serverPolicy, "admin").From[0].PodSelector = &metav1.LabelSelector{}
		}, "admits every pod of the namespace to the server's admin port"},
		{"admin port from every pod of the project", func(t *testing.T, m *manifests) {
			delete(rule(t, m, serverPolicy, "admin").From[0].PodSelector.MatchLabels, "app.kubernetes.io/component")
		}, "podSelector app.kubernetes.io/name=benchharness admits base/workers.yaml: Job/loadtest-workers to the server's admin port"},
		{"admin port from an address block", func(t *testing.T, m *manifests) {
			r := rule(t, m, serverPolicy, "admin")
			r.From = append(r.From, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}})
		}, "ipBlock 0.0.0.0/0 admits addresses to the server's admin port"},
		{"Prometheus from any namespace", func(t *testing.T, m *manifests) {
			rule(t, m, serverPolicy, "admin").From[1].NamespaceSelector = &metav1.LabelSelector{}
		}, "is not one namespace by name"},
		{"every pod of Prometheus's namespace", func(t *testing.T, m *manifests) {
			rule(t, m, serverPolicy, "admin").From[1].PodSelector = nil
		}, "admits every pod of namespaces kubernetes.io/metadata.name=monitoring to the server's admin port"},
		{"Prometheus split into two peers", func(t *testing.T, m *manifests) {
			r := rule(t, m, serverPolicy, "admin")
			r.From = []networkingv1.NetworkPolicyPeer{r.From[0], {NamespaceSelector: prometheus.NamespaceSelector}, {PodSelector: prometheus.PodSelector}}
		}, "admits every pod of namespaces kubernetes.io/metadata.name=monitoring to the server's admin port"},
		{"Prometheus on the workers' port", func(t *testing.T, m *manifests) {
			r := rule(t, m, workersPolicy, "control")
			r.From = append(r.From, prometheus)
		}, "admits pods of namespaces kubernetes.io/metadata.name=monitoring to the workers' control port: only the coordinator"},
		{"API rule opens every port", func(t *testing.T, m *manifests) {
			rule(t, m, serverPolicy, "api").Ports = nil
		}, "admits base/workers.yaml: Job/loadtest-workers to the server's admin port"},
		{"API rule's port range takes in the admin port", func(t *testing.T, m *manifests) {
			r := rule(t, m, serverPolicy, "api")
			r.Ports = port(intstr.FromInt32(6000))
			end := int32(8080)
			r.Ports[0].EndPort = &end
		}, "admits base/workers.yaml: Job/loadtest-workers to the server's admin port"},
		{"admin rule opens the API port instead", func(t *testing.T, m *manifests) {
			rule(t, m, serverPolicy, "admin").Ports = port(intstr.FromString("api"))
		}, "keep base/coordinator.yaml: Job/loadtest-coordinator from the server's admin port 6060"},
		{"workers' rule opens another port", func(t *testing.T, m *manifests) {
			rule(t, m, workersPolicy, "control").Ports = port(intstr.FromInt32(7071))
		}, "keep base/coordinator.yaml: Job/loadtest-coordinator from the workers' control port 7070"},
		{"workers' rule for UDP", func(t *testing.T, m *manifests) {
			udp := networkingv1.NetworkPolicyPort{Port: rule(t, m, workersPolicy, "control").Ports[0].Port}
			udp.Protocol = &udpProtocol
			rule(t, m, workersPolicy, "control").Ports = []networkingv1.NetworkPolicyPort{udp}
		}, "keep base/coordinator.yaml: Job/loadtest-coordinator from the workers' control port 7070"},
		{"workers shut out of the API", func(t *testing.T, m *manifests) {
			r := rule(t, m, serverPolicy, "api")
			r.From = []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: coordinator}}}
		}, "keep base/workers.yaml: Job/loadtest-workers from the server's API port 8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := load(root)
			if err != nil {
				t.Fatal(err)
			}
			tt.change(t, m)
			err = check(m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error with %q, got: %v", tt.want, err)
			}
			t.Log(err)
		})
	}
}

// netpol returns the NetworkPolicy name among the decoded objects, to be changed in place.
func netpol(t *testing.T, m *manifests, name string) *networkingv1.NetworkPolicy {
	t.Helper()
	for _, o := range m.objects {
		if np, ok := o.obj.(*networkingv1.NetworkPolicy); ok && np.Name == name {
			return np
		}
	}
	t.Fatalf("no NetworkPolicy %s: update the test", name)
	return nil
}

// rule returns the ingress rule of NetworkPolicy name that opens the named port.
func rule(t *testing.T, m *manifests, name, port string) *networkingv1.NetworkPolicyIngressRule {
	t.Helper()
	np := netpol(t, m, name)
	for i, r := range np.Spec.Ingress {
		if slices.ContainsFunc(r.Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port != nil && p.Port.StrVal == port }) {
			return &np.Spec.Ingress[i]
		}
	}
	t.Fatalf("NetworkPolicy %s has no rule for port %s: update the test", name, port)
	return nil
}

// drop removes NetworkPolicy name from the decoded objects.
func drop(t *testing.T, m *manifests, name string) {
	t.Helper()
	netpol(t, m, name)
	m.objects = slices.DeleteFunc(m.objects, func(o object) bool {
		np, ok := o.obj.(*networkingv1.NetworkPolicy)
		return ok && np.Name == name
	})
}
