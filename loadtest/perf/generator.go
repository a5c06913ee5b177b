package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
)

// generator is P3's set-up: the trivial endpoint every generator attacks, and the files the
// vegeta CLI reads and writes.
type generator struct {
	r       *runner
	ctx     context.Context
	url     string
	targets string // vegeta CLI targets file
	bin     string // vegeta CLI results file, removed at the end
	workers string

	// CPU per request of each generator process at maximum rate (µs): steadier than its rate
	// when neighbours take the cores, so it tells whether a rate gap is the engine's cost or
	// the machine's.
	harnessCPU, vegetaCPU []float64
	// The same at the fixed rate (µs per request), with the floor client's, and wrk's at its
	// maximum: P3g.
	harnessFixedCPU, vegetaFixedCPU, floorFixedCPU, wrkCPU []float64
}

// measureGenerator is P3: the harness's attacker against the vegeta CLI and wrk at maximum rate
// on a trivial endpoint; then, at half the harness's maximum, the attacker and the vegeta CLI
// side by side for pacing (rate achieved, send lateness), and the attacker alone for peak
// memory over a short and a long run.
func (r *runner) measureGenerator(ctx context.Context) error {
	triv, addr, err := r.serve(ctx, "trivial", "-addr", "127.0.0.1:{port}")
	if err != nil {
		return err
	}
	defer triv.Stop(childGrace)
	g := &generator{r: r, ctx: ctx, url: "http://" + addr + "/", workers: strconv.Itoa(r.cfg.p3Workers),
		targets: filepath.Join(r.cfg.out, "p3.targets"), bin: filepath.Join(r.cfg.out, "p3.vegeta.bin")}
	defer os.Remove(g.bin)
	if err := os.WriteFile(g.targets, []byte("GET "+g.url+"\n"), 0o644); err != nil {
		return fmt.Errorf("write vegeta targets: %w", err)
	}
	r.logf("P3: trivial endpoint on %s; warm-up", addr)
	if _, _, err := g.harness(0, time.Second, ""); err != nil {
		return fmt.Errorf("warm-up attack: %w", err)
	}
	maxes := g.maxRateRounds()
	if len(maxes) == 0 {
		return errors.New("no maximum rate measured: cannot run the fixed-rate part")
	}
	rate := math.Floor(median(maxes) / 2)
	r.res.Settings.FixedRate = rate
	r.logf("P3: fixed rate %.0f/s (half the harness's median maximum)", rate)
	g.latenessRounds(rate)
	g.memoryRounds(rate)
	return nil
}

// harness runs the harness's attacker in its own process; results, when set, keeps its .bin.
func (g *generator) harness(rate float64, d time.Duration, results string) (attackReport, float64, error) {
	rep, mb, cpu, err := g.r.attackProcess(g.ctx, g.url, rate, g.r.cfg.p3Workers, d, results)
	if err == nil && rep.Requests > 0 && d == g.r.cfg.p3Round {
		if rate == 0 {
			g.harnessCPU = append(g.harnessCPU, 1e6*cpu/float64(rep.Requests))
		} else {
			g.harnessFixedCPU = append(g.harnessFixedCPU, 1e6*cpu/float64(rep.Requests))
		}
	}
	return rep, mb, err
}

// vegeta runs the vegeta CLI with the same workers (rate 0: as fast as they allow) into g.bin
// and returns its report.
func (g *generator) vegeta(rate float64, d time.Duration) (vegetaReport, error) {
	cmd := exec.CommandContext(g.ctx, g.r.cfg.vegeta, "attack", "-targets="+g.targets,
		"-rate="+strconv.FormatFloat(rate, 'f', 0, 64), "-max-workers="+g.workers, "-workers="+g.workers,
		"-duration="+d.String(), "-output="+g.bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return vegetaReport{}, fmt.Errorf("vegeta attack: %w: %s", err, tail(string(out), 3))
	}
	cpu := processCPU(cmd.ProcessState)
	out, err := exec.CommandContext(g.ctx, g.r.cfg.vegeta, "report", "-type=json", g.bin).Output()
	if err != nil {
		return vegetaReport{}, fmt.Errorf("vegeta report: %w", err)
	}
	rep, err := parseVegetaReport(out)
	if err == nil && rep.Requests > 0 && rate == 0 {
		g.vegetaCPU = append(g.vegetaCPU, 1e6*cpu/float64(rep.Requests))
	} else if err == nil && rep.Requests > 0 {
		g.vegetaFixedCPU = append(g.vegetaFixedCPU, 1e6*cpu/float64(rep.Requests))
	}
	return rep, err
}

// floor runs `perf floor` at rate for a round and keeps its CPU per request.
func (g *generator) floor(rate float64) error {
	out, cpu, err := runToolCPU(g.ctx, g.r.self, "floor", "-url", g.url, "-rate", strconv.FormatFloat(rate, 'f', 0, 64),
		"-workers", g.workers, "-duration", g.r.cfg.p3Round.String())
	if err != nil {
		return err
	}
	var rep floorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		return fmt.Errorf("perf floor: parse its report: %w", err)
	}
	if rep.OK > 0 {
		g.floorFixedCPU = append(g.floorFixedCPU, 1e6*cpu/float64(rep.OK))
	}
	return nil
}

func (g *generator) wrk() (float64, error) {
	out, cpu, err := runToolCPU(g.ctx, g.r.cfg.wrk, "-t2", "-c"+g.workers, "-d"+strconv.Itoa(int(g.r.cfg.p3Round/time.Second))+"s", g.url)
	if err != nil {
		return 0, err
	}
	res, err := parseWrk(out)
	if err == nil && res.Requests > 0 {
		g.wrkCPU = append(g.wrkCPU, 1e6*cpu/float64(res.Requests))
	}
	return res.GoodRate(), err
}

// maxRateRounds is P3a: the harness, the vegeta CLI and wrk at maximum rate, the order rotating
// round by round. It returns the harness's maximum rates.
func (g *generator) maxRateRounds() []float64 {
	r, c := g.r, g.r.cfg
	var maxes, wrkRatios []float64
	for i := 0; i < c.rounds && g.ctx.Err() == nil; i++ {
		var h, v, k float64
		steps := []func() error{
			func() error { rep, _, err := g.harness(0, c.p3Round, ""); h = rep.Throughput; return err },
			func() error { rep, err := g.vegeta(0, c.p3Round); v = rep.Throughput; return err },
			func() error { var err error; k, err = g.wrk(); return err },
		}
		for j := range steps {
			if err := steps[(i+j)%len(steps)](); err != nil {
				r.res.Errors = append(r.res.Errors, fmt.Sprintf("P3 round %d: %v", i+1, err))
			}
		}
		r.logf("P3 round %d: harness %.0f/s, vegeta %.0f/s, wrk %.0f/s", i+1, h, v, k)
		r.fig(attackerVsVegeta).Add(Sample{A: h, B: v, Value: ratio(h, v)})
		if h > 0 {
			maxes = append(maxes, h)
		}
		if wr := ratio(k, v); !math.IsNaN(wr) {
			wrkRatios = append(wrkRatios, wr)
		}
	}
	if len(wrkRatios) > 0 {
		r.note(attackerVsVegeta, "wrk -t2 -c%s / vegeta CLI on the same endpoint: median %s× (a C reference: what an event-loop client reaches here).",
			g.workers, trim(median(wrkRatios)))
	}
	if len(g.harnessCPU) > 0 && len(g.vegetaCPU) > 0 {
		r.note(attackerVsVegeta, "Generator CPU per request at max rate (µs, median): harness %s, vegeta CLI %s (harness/vegeta %s×).",
			trim(median(g.harnessCPU)), trim(median(g.vegetaCPU)), trim(median(g.harnessCPU)/median(g.vegetaCPU)))
	}
	return maxes
}

// latenessRounds is P3b and P3c: the harness and the vegeta CLI at the same fixed rate, side
// by side, the order alternating. Both send lateness p99 come from the results files by the
// same rule (resultsLateness), so neither is favoured by how it is computed.
func (g *generator) latenessRounds(rate float64) {
	r, c := g.r, g.r.cfg
	hbin := filepath.Join(c.out, "p3.harness.bin")
	defer os.Remove(hbin)
	var engine, vegetaP99 []float64
	for i := 0; i < c.rounds && g.ctx.Err() == nil; i++ {
		hp, vp := math.NaN(), math.NaN()
		harnessCPUs, vegetaCPUs := len(g.harnessFixedCPU), len(g.vegetaFixedCPU)
		steps := []func() error{
			func() error {
				rep, _, err := g.harness(rate, c.p3Round, hbin)
				if err != nil {
					r.fig(rateAccuracy).Add(Sample{A: math.NaN(), B: rate, Value: math.NaN()})
					return err
				}
				r.fig(rateAccuracy).Add(Sample{A: rep.Rate, B: rate, Value: ratio(rep.Rate, rate)})
				engine = append(engine, rep.LatenessP99Ms)
				hp, err = resultsLateness(hbin, rate)
				return err
			},
			func() error {
				if _, err := g.vegeta(rate, c.p3Round); err != nil {
					return err
				}
				var err error
				vp, err = resultsLateness(g.bin, rate)
				return err
			},
			func() error { return g.floor(rate) },
		}
		for j := range steps {
			if err := steps[(i+j)%len(steps)](); err != nil {
				r.res.Errors = append(r.res.Errors, fmt.Sprintf("P3 fixed-rate round %d: %v", i+1, err))
			}
		}
		// P3h: the harness's CPU per request over the vegeta CLI's, both of this round.
		if len(g.harnessFixedCPU) > harnessCPUs && len(g.vegetaFixedCPU) > vegetaCPUs {
			h, v := g.harnessFixedCPU[harnessCPUs], g.vegetaFixedCPU[vegetaCPUs]
			r.fig(generatorVsVegetaCPU).Add(Sample{A: h, B: v, Value: ratio(h, v)})
		}
		r.logf("P3 fixed-rate round %d: send lateness p99 harness %.3f ms, vegeta CLI %.3f ms", i+1, hp, vp)
		r.fig(sendLateness).Add(Sample{A: hp, B: vp, Value: ratio(hp, vp)})
		if !math.IsNaN(vp) {
			vegetaP99 = append(vegetaP99, vp)
		}
	}
	g.cpuFigure(rate)
	r.note(rateAccuracy, "Rate asked: %.0f/s, %s per run.", rate, c.p3Round)
	r.note(sendLateness, "Rate %.0f/s, %s per run, %s workers each. The harness engine's own p99 (from the pacer's schedule, attack.IntendedOffset): %s ms. "+
		"The vegeta CLI's p99 over the rounds: %s ms: the spread one tool shows against itself on this machine.",
		rate, c.p3Round, g.workers, joinFloats(engine), joinFloats(vegetaP99))
}

// cpuFigure is P3g: the harness's CPU per request at the fixed rate, round by round, over wrk's
// at its maximum (the median of P3a's rounds), with the vegeta CLI's and the floor client's at
// the same fixed rate as notes: wrk at its maximum is never idle, so it pays no wake-up per
// request; a client sending at a rate pays one or more, which the floor shows.
func (g *generator) cpuFigure(rate float64) {
	r := g.r
	if len(g.wrkCPU) == 0 {
		return
	}
	wrk := median(g.wrkCPU)
	for _, h := range g.harnessFixedCPU {
		r.fig(generatorCPU).Add(Sample{A: h, B: wrk, Value: ratio(h, wrk)})
	}
	note := func(name string, vs []float64) string {
		if len(vs) == 0 {
			return name + " not measured"
		}
		return fmt.Sprintf("%s %s (%s)", name, trim(median(vs)), joinFloats(vs))
	}
	r.note(generatorCPU, "CPU per request (µs, median and rounds) at %.0f/s: %s; %s; %s. wrk -t2 -c%s at its maximum: %s.",
		rate, note("harness", g.harnessFixedCPU), note("vegeta CLI", g.vegetaFixedCPU), note("floor (perf floor)", g.floorFixedCPU),
		g.workers, note("wrk", g.wrkCPU))
}

// memoryRounds is P3d and P3e: the harness's peak RSS over a short and a long run at the fixed rate.
func (g *generator) memoryRounds(rate float64) {
	r, c := g.r, g.r.cfg
	var short, long []float64
	for i := 0; i < c.rssRounds && g.ctx.Err() == nil; i++ {
		var rss [2]float64
		for j, d := range []time.Duration{c.rssShort, c.rssLong} {
			rep, mb, err := g.harness(rate, d, "")
			if err != nil {
				r.res.Errors = append(r.res.Errors, fmt.Sprintf("P3 fixed rate %s: %v", d, err))
				continue
			}
			r.logf("P3 fixed %s: sent %.1f/s of %.0f, peak RSS %.1f MB", d, rep.Rate, rate, mb)
			rss[j] = mb
		}
		short, long = append(short, rss[0]), append(long, rss[1])
		r.fig(attackerPeakRSS).Add(Sample{A: rss[1], Value: nanIfZero(rss[1])})
		r.fig(attackerRSSGrowth).Add(Sample{A: rss[1], B: rss[0], Value: ratio(rss[1], rss[0])})
	}
	r.note(attackerPeakRSS, "Short runs' peak RSS (MB): %s; long runs': %s.", joinFloats(short), joinFloats(long))
}

// attackProcess runs `perf attack` (with extra flags) in its own process, like the vegeta CLI runs
// in its own, and returns its report (results, when set, is the .bin it keeps), its peak RSS in MB (the kernel's ru_maxrss, i.e. VmHWM at exit) and the
// CPU seconds it used.
func (r *runner) attackProcess(ctx context.Context, url string, rate float64, workers int, d time.Duration, results string, extra ...string) (attackReport, float64, float64, error) {
	return r.attackProcessEnv(ctx, nil, url, rate, workers, d, results, extra...)
}

// attackProcessEnv is attackProcess with env added to perf's environment.
func (r *runner) attackProcessEnv(ctx context.Context, env []string, url string, rate float64, workers int, d time.Duration, results string, extra ...string) (attackReport, float64, float64, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, r.self, append([]string{"attack", "-url", url, "-rate", strconv.FormatFloat(rate, 'f', 0, 64),
		"-workers", strconv.Itoa(workers), "-duration", d.String(), "-results", results}, extra...)...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return attackReport{}, 0, 0, fmt.Errorf("perf attack: %w: %s", err, tail(stderr.String(), 3))
	}
	var rep attackReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return rep, 0, 0, fmt.Errorf("perf attack: parse its report: %w", err)
	}
	var mb float64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		mb = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return rep, mb, processCPU(cmd.ProcessState), nil
}

// processCPU is the user+system CPU seconds of an exited process.
func processCPU(ps *os.ProcessState) float64 {
	if ps == nil {
		return 0
	}
	return (ps.UserTime() + ps.SystemTime()).Seconds()
}

// serve starts `perf <command> args...`, a server whose listen address is the {port}
// placeholder in args, through serverctl (free port, ready check, stopped by its pid), and
// returns it with its host:port.
func (r *runner) serve(ctx context.Context, command string, args ...string) (*serverctl.Local, string, error) {
	l, err := serverctl.StartService(ctx, serverctl.ServiceConfig{
		Args: append([]string{r.self, command}, args...), StartWait: 10 * time.Second})
	if err != nil {
		return nil, "", fmt.Errorf("perf %s: %w", command, err)
	}
	return l, strings.TrimPrefix(l.API(), "http://"), nil
}

// startWorker starts `perf worker` with env added to perf's environment and returns it with the
// address it prints first. Every path of a worker's API wants the worker key (an unauthenticated
// readiness GET gets 401, then 429), so it is ready once it has printed its address.
func (r *runner) startWorker(ctx context.Context, env []string) (*serverctl.Local, string, error) {
	l, err := serverctl.StartService(ctx, serverctl.ServiceConfig{Args: []string{r.self, "worker", "-listen", "127.0.0.1:0"},
		Env: env, StartWait: 10 * time.Second, AddrFromOutput: true})
	if err != nil {
		return nil, "", fmt.Errorf("perf worker: %w", err)
	}
	return l, strings.TrimPrefix(l.API(), "http://"), nil
}

// childGrace is how long a server perf started has to exit after SIGTERM before SIGKILL.
const childGrace = 5 * time.Second

func nanIfZero(v float64) float64 {
	if v <= 0 {
		return math.NaN()
	}
	return v
}

func joinFloats(vs []float64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = trim(v)
	}
	return strings.Join(s, ", ")
}
