package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/machine"
	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
)

// jaeger is a Jaeger v2 that perf starts for P2: OTLP receivers on loopback, in-memory
// storage bounded to a number of traces, its own telemetry off so it sends nothing anywhere.
type jaeger struct {
	*serverctl.Local
	otlpHTTP string // host:port of the OTLP/HTTP receiver
	query    string // http://host:port of the query API
	metrics  string // http://host:port of its own Prometheus metrics (spans accepted)
}

const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    logs:
      level: warn
    metrics:
      level: basic
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %s
    traces:
      level: none
extensions:
  jaeger_query:
    storage:
      traces: mem
    http:
      endpoint: %s
    grpc:
      endpoint: %s
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 20000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
processors:
  batch: {}
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`

// freeAddrs returns n distinct loopback addresses with ports free right now.
func freeAddrs(n int) ([]string, error) {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = "127.0.0.1"
	}
	return serverctl.FreePorts(hosts...)
}

// startJaeger starts Jaeger on free ports, and tries again (three times in all) when another
// process took one of them between the pick and Jaeger's bind.
func startJaeger(ctx context.Context, bin, dir string) (*jaeger, error) {
	var err error
	for range 3 {
		var j *jaeger
		if j, err = startJaegerOnce(ctx, bin, dir); err == nil || !errors.Is(err, serverctl.ErrPortTaken) {
			return j, err
		}
	}
	return nil, err
}

// jaegerStartWait is how long Jaeger has to listen on its OTLP receiver.
const jaegerStartWait = 30 * time.Second

// listening is a serverctl readiness check that addr accepts TCP connections (Jaeger's OTLP
// receiver: no HTTP readiness path of its own on the ports perf gives it).
func listening(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

func startJaegerOnce(ctx context.Context, bin, dir string) (*jaeger, error) {
	addrs, err := freeAddrs(5)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "jaeger.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(jaegerConfig, port(addrs[4]), addrs[0], addrs[1], addrs[2], addrs[3])), 0o644); err != nil {
		return nil, fmt.Errorf("write jaeger config: %w", err)
	}
	l, err := serverctl.StartService(ctx, serverctl.ServiceConfig{Args: []string{bin, "--config=file:" + cfgPath},
		StartWait: jaegerStartWait, Ready: listening(addrs[3])})
	if err != nil {
		return nil, fmt.Errorf("jaeger: %w", err)
	}
	return &jaeger{Local: l, otlpHTTP: addrs[3], query: "http://" + addrs[0], metrics: "http://" + addrs[4]}, nil
}

// services lists the services Jaeger holds traces of.
func (j *jaeger) services(ctx context.Context) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, j.query+"/api/services", nil)
	resp, err := (&http.Client{Timeout: fetchTimeout}).Do(req)
	if err != nil {
		return "", fmt.Errorf("jaeger services: %w", err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(io.LimitReader(resp.Body, 1<<20))
	return b.String(), nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runTool runs a reference tool to completion and returns its combined output.
func runTool(ctx context.Context, argv ...string) (string, error) {
	out, _, err := runToolCPU(ctx, argv...)
	return out, err
}

// runToolCPU is runTool that also returns the CPU seconds the tool used.
func runToolCPU(ctx context.Context, argv ...string) (string, float64, error) {
	return runToolEnvCPU(ctx, nil, argv...)
}

// runToolEnvCPU is runToolCPU with env added to perf's environment.
func runToolEnvCPU(ctx context.Context, env []string, argv ...string) (string, float64, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), 0, fmt.Errorf("%s: %w: %s", argv[0], err, tail(string(out), 3))
	}
	return string(out), processCPU(cmd.ProcessState), nil
}

// treeCPU is the CPU seconds used so far by a process and all its children, live or reaped
// (machine.TreeCPU), -1 when unreadable.
func treeCPU(pid int) float64 {
	d, ok := machine.TreeCPU(pid)
	if !ok {
		return -1
	}
	return d.Seconds()
}

// cpuSeconds is the CPU time a process has used so far (machine.ProcessCPU), -1 when unreadable.
func cpuSeconds(pid int) float64 {
	d, ok := machine.ProcessCPU(pid)
	if !ok {
		return -1
	}
	return d.Seconds()
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// acceptedSpans is how many spans Jaeger's OTLP receiver has accepted so far (its
// otelcol_receiver_accepted_spans counter; 0 before the first span).
func (j *jaeger) acceptedSpans(ctx context.Context) (float64, error) {
	return sumMetric(ctx, j.metrics+"/metrics", "otelcol_receiver_accepted_spans")
}
