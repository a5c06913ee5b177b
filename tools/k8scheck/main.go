// Command k8scheck checks the Kubernetes manifests under deploy/k8s without a cluster: every
// document is decoded strictly into the Kubernetes API types (k8s.io/api, an unknown or
// duplicated field is an error), and the rules docs/k8s.md promises are checked: requests and
// limits on every container, a non-root restricted security context, pinned images, the
// worker Job Indexed with parallelism = completions behind its headless Service, the
// coordinator's -workers naming that Service, selectors that select, secrets never inline, and
// NetworkPolicies that open the workers' port to the coordinator only and the server's admin
// port to the coordinator and Prometheus only, without shutting the run out.
//
// It is its own module so that k8s.io/* never enters the project's go.mod.
//
// Usage: go run . [DIR]   (default ../../deploy/k8s); exit 1 lists every problem.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "k8scheck:", err)
		os.Exit(1)
	}
}

func run(_ context.Context, args []string, _ func(string) string, stdout, _ io.Writer) error {
	dir := "../../deploy/k8s"
	if len(args) > 1 {
		dir = args[1]
	}
	set, err := load(dir)
	if err != nil {
		return err
	}
	if err := check(set); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d objects in %d files, every rule holds\n", dir, len(set.objects), len(set.files))
	return nil
}
