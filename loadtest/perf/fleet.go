package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/cli"
	"github.com/benchharness/benchharness/loadtest/internal/fleet"
)

// fleetWorkers is how many workers P3f spreads the attack over: the figure the issue asks for.
const fleetWorkers = 3

// workerCommand serves one load generator (the harness's fleet worker) on -addr until ctx ends.
func workerCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("listen", "127.0.0.1:0", "control API address (loopback only)")
	if err := cli.Parse(fs, args); err != nil {
		return usageErrorf("worker: %v", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return usageErrorf("worker: listen %s: %v", *addr, err)
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(fleet.WorkerGCPercent) // as `loadtest worker` does
	}
	w, err := fleet.NewWorker(fleet.WorkerOptions{Key: getenv("LOADTEST_WORKER_KEY")})
	if err != nil {
		return usageErrorf("worker: %v", err)
	}
	context.AfterFunc(ctx, w.Stop) // its attack ends with its last results sent, then the server drains
	return serveUntil(ctx, "worker", ln, w.Handler(), stdout)
}

// measureFleet is P3f: the harness's attack spread over three worker processes against the
// same attack in one process, at maximum rate on the trivial endpoint, with the same total
// workers (connections), interleaved. Both sides send the harness's items targeter (-mix), which
// is what workers rebuild. The CPU per request of both sides (the coordinator and its workers
// together) says what the coordination costs when the rates are too noisy to.
func (r *runner) measureFleet(ctx context.Context) error {
	triv, addr, err := r.serve(ctx, "trivial", "-addr", "127.0.0.1:{port}")
	if err != nil {
		return err
	}
	defer triv.Stop(childGrace)
	key, err := fleet.NewKey()
	if err != nil {
		return err
	}
	env := []string{"LOADTEST_WORKER_KEY=" + key} // the workers' and the attacks' that spread over them
	var addrs []string
	var pids []int
	for range fleetWorkers {
		w, a, err := r.startWorker(ctx, env)
		if err != nil {
			return err
		}
		defer w.Stop(childGrace)
		addrs, pids = append(addrs, a), append(pids, w.PID())
	}
	url, list, c := "http://"+addr+"/", strings.Join(addrs, ","), r.cfg
	r.logf("P3f: trivial endpoint on %s, workers %s; warm-up", addr, list)
	if _, _, _, err := r.attackProcessEnv(ctx, env, url, 0, c.p3Workers, time.Second, "", "-mix", "-fleet", list); err != nil {
		return fmt.Errorf("warm-up attack: %w", err)
	}
	var cpuOne, cpuSpread []float64
	for i := 0; i < c.rounds && ctx.Err() == nil; i++ {
		var one, spread float64
		steps := []func() error{
			func() error {
				rep, _, cpu, err := r.attackProcess(ctx, url, 0, c.p3Workers, c.p3Round, "", "-mix")
				one = rep.Throughput
				if err == nil && rep.Requests > 0 {
					cpuOne = append(cpuOne, 1e6*cpu/float64(rep.Requests))
				}
				return err
			},
			func() error {
				before := sumCPU(pids)
				rep, _, cpu, err := r.attackProcessEnv(ctx, env, url, 0, c.p3Workers, c.p3Round, "", "-mix", "-fleet", list)
				spread = rep.Throughput
				if err == nil && rep.Requests > 0 && before >= 0 {
					cpuSpread = append(cpuSpread, 1e6*(cpu+sumCPU(pids)-before)/float64(rep.Requests))
				}
				return err
			},
		}
		for j := range steps {
			if err := steps[(i+j)%len(steps)](); err != nil {
				r.res.Errors = append(r.res.Errors, fmt.Sprintf("P3f round %d: %v", i+1, err))
			}
		}
		r.logf("P3f round %d: %d workers %.0f/s, one process %.0f/s", i+1, fleetWorkers, spread, one)
		r.fig(workerScaling).Add(Sample{A: spread, B: one, Value: ratio(spread, one)})
	}
	if len(cpuOne) > 0 && len(cpuSpread) > 0 {
		r.note(workerScaling, "Generator CPU per request at max rate (µs, median): one process %s; coordinator + %d workers %s (%s×).",
			trim(median(cpuOne)), fleetWorkers, trim(median(cpuSpread)), trim(median(cpuSpread)/median(cpuOne)))
	}
	return nil
}

// sumCPU is the CPU seconds the processes used so far; -1 when one is unreadable.
func sumCPU(pids []int) float64 {
	var total float64
	for _, pid := range pids {
		s := cpuSeconds(pid)
		if s < 0 {
			return -1
		}
		total += s
	}
	return total
}
