# Kubernetes: the manifests of the distributed load test (deploy/k8s, docs/k8s.md).
.PHONY: k8s-check

## k8s-check: decode every manifest under deploy/k8s strictly into the Kubernetes API types,
## build each kustomization, and check the rules (limits, non-root, pinned images, the Indexed
## worker Job behind its headless Service, the coordinator's -workers naming it, NetworkPolicies
## that open the workers' port and the server's admin port to the coordinator (and Prometheus) only).
k8s-check:
	cd tools/k8scheck && GOWORK=off $(GO) test -count=1 ./...
