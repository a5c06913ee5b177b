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
)

// measureGenerator is P3: the harness's attacker against the vegeta CLI and wrk at maximum rate
// on a trivial endpoint, then the attacker alone at half its maximum for pacing accuracy and
// peak memory over a short and a long run.
func (r *runner) measureGenerator(ctx context.Context) error {
	c := r.cfg
	triv, err := startChild("trivial", nil, r.self, "trivial", "-addr", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer triv.stop()
	addr, err := firstLine(ctx, triv, 10*time.Second)
	if err != nil {
		return err
	}
	url := "http://" + addr + "/"
	targets := filepath.Join(c.out, "p3.targets")
	if err := os.WriteFile(targets, []byte("GET "+url+"\n"), 0o644); err != nil {
		return fmt.Errorf("write vegeta targets: %w", err)
	}
	vbin := filepath.Join(c.out, "p3.vegeta.bin")
	defer os.Remove(vbin)
	secs := strconv.Itoa(int(c.p3Round / time.Second))
	w := strconv.Itoa(c.p3Workers)

	// CPU per request of each generator process (µs): steadier than its rate when neighbours
	// take the cores, so it tells whether a rate gap is the engine's cost or the machine's.
	var harnessCPU, vegetaCPU []float64
	harness := func(rate float64, d time.Duration) (attackReport, float64, error) {
		rep, mb, cpu, err := r.attackProcess(ctx, url, rate, c.p3Workers, d)
		if err == nil && rate == 0 && rep.Requests > 0 && d == c.p3Round {
			harnessCPU = append(harnessCPU, 1e6*cpu/float64(rep.Requests))
		}
		return rep, mb, err
	}
	vegeta := func() (float64, error) {
		cmd := exec.CommandContext(ctx, c.vegeta, "attack", "-targets="+targets, "-rate=0", "-max-workers="+w,
			"-workers="+w, "-duration="+secs+"s", "-output="+vbin)
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("vegeta attack: %w: %s", err, tail(string(out), 3))
		}
		cpu := processCPU(cmd.ProcessState)
		out, err := exec.CommandContext(ctx, c.vegeta, "report", "-type=json", vbin).Output()
		if err != nil {
			return 0, fmt.Errorf("vegeta report: %w", err)
		}
		rep, err := parseVegetaReport(out)
		if err != nil {
			return 0, err
		}
		vegetaCPU = append(vegetaCPU, 1e6*cpu/float64(rep.Requests))
		return rep.Throughput, nil
	}
	wrk := func() (float64, error) {
		out, err := runTool(ctx, c.wrk, "-t2", "-c"+w, "-d"+secs+"s", url)
		if err != nil {
			return 0, err
		}
		res, err := parseWrk(out)
		return res.GoodRate(), err
	}

	r.logf("P3: trivial endpoint on %s; warm-up", addr)
	if _, _, err := harness(0, time.Second); err != nil {
		return fmt.Errorf("warm-up attack: %w", err)
	}
	var maxes, wrkRatios []float64
	for i := 0; i < c.rounds && ctx.Err() == nil; i++ {
		var h, v, k float64
		steps := []func() error{
			func() error { rep, _, err := harness(0, c.p3Round); h = rep.Throughput; return err },
			func() error { var err error; v, err = vegeta(); return err },
			func() error { var err error; k, err = wrk(); return err },
		}
		for j := range steps { // rotate the order round by round: no tool always runs first
			if err := steps[(i+j)%len(steps)](); err != nil {
				r.res.Errors = append(r.res.Errors, fmt.Sprintf("P3 round %d: %v", i+1, err))
			}
		}
		r.logf("P3 round %d: harness %.0f/s, vegeta %.0f/s, wrk %.0f/s", i+1, h, v, k)
		r.fig("P3a").Add(Sample{A: h, B: v, Value: ratio(h, v)})
		if h > 0 {
			maxes = append(maxes, h)
		}
		if wr := ratio(k, v); !math.IsNaN(wr) {
			wrkRatios = append(wrkRatios, wr)
		}
	}
	if len(wrkRatios) > 0 {
		r.note("P3a", "wrk -t2 -c%s / vegeta CLI on the same endpoint: median %s× (a C reference: what an event-loop client reaches here).",
			w, trim(median(wrkRatios)))
	}
	if len(harnessCPU) > 0 && len(vegetaCPU) > 0 {
		r.note("P3a", "Generator CPU per request at max rate (µs, median): harness %s, vegeta CLI %s (harness/vegeta %s×).",
			trim(median(harnessCPU)), trim(median(vegetaCPU)), trim(median(harnessCPU)/median(vegetaCPU)))
	}
	if len(maxes) == 0 {
		return errors.New("no maximum rate measured: cannot run the fixed-rate part")
	}
	rate := math.Floor(median(maxes) / 2)
	r.res.Settings.FixedRate = rate
	r.logf("P3: fixed rate %.0f/s (half the harness's median maximum)", rate)
	var short, long []float64
	for i := 0; i < c.rssRounds && ctx.Err() == nil; i++ {
		var rss [2]float64
		for j, d := range []time.Duration{c.rssShort, c.rssLong} {
			rep, mb, err := harness(rate, d)
			if err != nil {
				r.res.Errors = append(r.res.Errors, fmt.Sprintf("P3 fixed rate %s: %v", d, err))
				continue
			}
			r.logf("P3 fixed %s: sent %.1f/s of %.0f, lateness p99 %.3f ms, peak RSS %.1f MB", d, rep.Rate, rate, rep.LatenessP99Ms, mb)
			r.fig("P3b").Add(Sample{A: rep.Rate, B: rate, Value: ratio(rep.Rate, rate)})
			lat := rep.LatenessP99Ms
			if lat < 0 {
				lat = math.NaN()
			}
			r.fig("P3c").Add(Sample{A: lat, Value: lat})
			rss[j] = mb
		}
		short, long = append(short, rss[0]), append(long, rss[1])
		r.fig("P3d").Add(Sample{A: rss[1], Value: nanIfZero(rss[1])})
		r.fig("P3e").Add(Sample{A: rss[1], B: rss[0], Value: ratio(rss[1], rss[0])})
	}
	r.note("P3b", "Rate asked: %.0f/s, for %s and %s runs.", rate, c.rssShort, c.rssLong)
	r.note("P3d", "Short runs' peak RSS (MB): %s; long runs': %s.", joinFloats(short), joinFloats(long))
	return nil
}

// attackProcess runs `perf attack` in its own process, like the vegeta CLI runs in its own, and
// returns its report, its peak RSS in MB (the kernel's ru_maxrss, i.e. VmHWM at exit) and the
// CPU seconds it used.
func (r *runner) attackProcess(ctx context.Context, url string, rate float64, workers int, d time.Duration) (attackReport, float64, float64, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, r.self, "attack", "-url", url, "-rate", strconv.FormatFloat(rate, 'f', 0, 64),
		"-workers", strconv.Itoa(workers), "-duration", d.String())
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

// firstLine waits for the first full line a child prints (the trivial endpoint's address).
func firstLine(ctx context.Context, c *child, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if line, _, ok := strings.Cut(c.out.String(), "\n"); ok {
			return strings.TrimSpace(line), nil
		}
		select {
		case <-c.done:
			return "", fmt.Errorf("%s exited: %s", c.name, tail(c.out.String(), 3))
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("%s printed no address within %s", c.name, wait)
}

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
