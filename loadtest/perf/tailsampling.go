package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/machine"
	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
)

// tailJaegerConfig is the stack's own Jaeger config (issue 12): tail sampling in front of the
// in-memory store. P2c measures the server against it as `make stack` runs it.
const tailJaegerConfig = "deploy/jaeger/config.yaml"

// tailFigure is P2c: what exporting every span costs when the collector does tail sampling.
func tailFigure(c config) *Figure {
	return &Figure{ID: tailSamplingCost, Name: "tracing 100 % → Jaeger tail sampling / off", Unit: "×", Target: Target{">=", 0.75},
		A: fmt.Sprintf("same load as P2a (wrk -t2 -c%d), OTEL_TRACES_SAMPLER=always_on, OTLP/HTTP to a local Jaeger running %s (tail sampling)", c.conns, tailJaegerConfig),
		B: "same load, OTEL_TRACES_EXPORTER=none"}
}

// measureTail is P2c: a server exporting 100 % of its spans to Jaeger with the stack's tail
// sampling, against a server with tracing off, in interleaved rounds (their own, so P1/P2's
// rounds are untouched). The server's cost is P2a's; what P2c adds is the collector's: Jaeger
// holds every trace for the decision wait and evaluates the policies, on the same 2 cores.
func (r *runner) measureTail(ctx context.Context) error {
	c := r.cfg
	if _, err := os.Stat(tailJaegerConfig); err != nil {
		return fmt.Errorf("P2c needs %s (run from the repository root): %w", tailJaegerConfig, err)
	}
	j, otlp, err := startTailJaeger(ctx, c.jaeger)
	if err != nil {
		return err
	}
	defer j.Stop(childGrace)
	dbURL, err := withPoolSize(r.dbURL, c.pool)
	if err != nil {
		return err
	}
	secret, err := serverctl.NewSecret()
	if err != nil {
		return err
	}
	servers := map[string]*serverctl.Local{}
	for _, v := range []struct{ id, env string }{
		{"off", "OTEL_TRACES_EXPORTER=none"},
		{"tail", "OTEL_TRACES_EXPORTER=otlp,OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf,OTEL_TRACES_SAMPLER=always_on,OTEL_EXPORTER_OTLP_ENDPOINT=http://" + otlp},
	} {
		srv, err := serverctl.Start(ctx, serverctl.Config{Bin: c.serverBin, DatabaseURL: dbURL, JWTSecret: secret,
			Env: append([]string{"LOG_LEVEL=warn"}, strings.Split(v.env, ",")...)})
		if err != nil {
			return fmt.Errorf("start %s server: %w", v.id, err)
		}
		defer srv.Stop(10 * time.Second)
		servers[v.id] = srv
	}
	if err := r.seed(ctx, c.items); err != nil {
		return err
	}
	token, err := servers["off"].Token(ctx, "perf")
	if err != nil {
		return err
	}
	headers := []string{"Authorization: Bearer " + token, "traceparent: " + unsampledParent}
	rate := func(id string, d time.Duration) (float64, error) {
		return wrkRate(ctx, c, servers[id].API()+itemsPath, headers, d)
	}
	for _, id := range []string{"off", "tail"} {
		if err := checkItems(ctx, servers[id].API()+itemsPath, headers); err != nil {
			return fmt.Errorf("%s server: %w", id, err)
		}
		if _, err := rate(id, c.warmup); err != nil {
			return fmt.Errorf("P2c warm-up: %w", err)
		}
	}
	cpu0 := cpuSeconds(j.PID())
	for i := 0; i < c.rounds && ctx.Err() == nil; i++ {
		order := []string{"off", "tail"}
		if i%2 == 1 {
			order = []string{"tail", "off"}
		}
		got := map[string]float64{}
		for _, id := range order {
			v, err := rate(id, c.round)
			if err != nil {
				r.res.Errors = append(r.res.Errors, fmt.Sprintf("P2c round %d %s: %v", i+1, id, err))
				continue
			}
			got[id] = v
		}
		r.logf("P2c round %d: off %.0f/s, tail %.0f/s", i+1, got["off"], got["tail"])
		if v := ratio(got["tail"], got["off"]); !math.IsNaN(v) {
			r.fig(tailSamplingCost).Add(Sample{A: got["tail"], B: got["off"], Value: v})
		}
	}
	used := cpuSeconds(j.PID()) - cpu0
	load := float64(len(r.fig(tailSamplingCost).Samples)) * c.round.Seconds()
	if used >= 0 && load > 0 {
		r.note(tailSamplingCost, "Jaeger (tail sampling, decision wait 10 s, at most 50000 traces held) used %.1f CPU-seconds over the %.0f s of traced load, %.0f %% of one core, and peaked at %s resident.",
			used, load, 100*used/load, peakRSS(j.PID()))
	}
	return nil
}

// startTailJaeger runs Jaeger with the stack's config on free loopback ports and returns it
// with its OTLP/HTTP address once that listens.
func startTailJaeger(ctx context.Context, bin string) (*serverctl.Local, string, error) {
	names := []string{"JAEGER_OTLP_GRPC_ADDR", "JAEGER_OTLP_HTTP_ADDR", "JAEGER_QUERY_HTTP_ADDR", "JAEGER_QUERY_GRPC_ADDR", "JAEGER_HEALTH_ADDR"}
	env := make([]string, 0, len(names))
	addrs := map[string]string{}
	free, err := freeAddrs(len(names))
	if err != nil {
		return nil, "", err
	}
	for i, n := range names {
		addrs[n] = free[i]
		env = append(env, n+"="+free[i])
	}
	otlp := addrs["JAEGER_OTLP_HTTP_ADDR"]
	l, err := serverctl.StartService(ctx, serverctl.ServiceConfig{Args: []string{bin, "--config=file:" + tailJaegerConfig},
		Env: env, StartWait: jaegerStartWait, Ready: listening(otlp)})
	if err != nil {
		return nil, "", fmt.Errorf("jaeger (tail sampling): %w", err)
	}
	return l, otlp, nil
}

// wrkRate runs wrk against url for d and returns the 2xx per second; more than 1 % non-2xx or
// socket errors is an error (fast refusals must not count as fast service).
func wrkRate(ctx context.Context, c config, url string, headers []string, d time.Duration) (float64, error) {
	args := []string{c.wrk, "-t2", "-c" + strconv.Itoa(c.conns), "-d" + strconv.Itoa(int(d/time.Second)) + "s"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	out, err := runTool(ctx, append(args, url)...)
	if err != nil {
		return 0, err
	}
	res, err := parseWrk(out)
	if err != nil {
		return 0, err
	}
	if res.Non2xx+res.Errors > res.Requests/100 {
		return 0, fmt.Errorf("wrk: %d non-2xx and %d socket errors of %d requests", res.Non2xx, res.Errors, res.Requests)
	}
	return res.GoodRate(), nil
}

// peakRSS is a process's peak resident memory (machine.PeakRSS), "unknown" when unreadable.
func peakRSS(pid int) string {
	b, ok := machine.PeakRSS(pid)
	if !ok {
		return "unknown"
	}
	return fmt.Sprintf("%.0f kB", b/1024)
}
