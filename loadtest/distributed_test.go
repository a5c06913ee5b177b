package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/lifeline"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// The distributed tests run `loadtest worker` processes (this command, built once) on loopback
// ports, the coordinator in this process, against the real server and PostgreSQL.

// workerKey is the key of the test workers and their coordinator.
const workerKey = "distributed-test-key-0123456789abcdef0123"

// keyEnv is the coordinator's environment: the workers' key and nothing else.
func keyEnv(k string) string {
	if k == "LOADTEST_WORKER_KEY" {
		return workerKey
	}
	return ""
}

// workerProc is one `loadtest worker` process.
type workerProc struct {
	addr string
	cmd  *exec.Cmd
}

// startWorkers starts one worker process per flag set (nil: none) and stops them by PID when
// the test ends.
func startWorkers(t *testing.T, flags ...[]string) []*workerProc {
	t.Helper()
	bin := build(t, "github.com/benchharness/benchharness/loadtest")
	var ws []*workerProc
	for _, f := range flags {
		cmd := exec.Command(bin, append([]string{"worker", "-listen", "127.0.0.1:0"}, f...)...)
		cmd.Env = append(os.Environ(), "LOADTEST_WORKER_KEY="+workerKey)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		// Killed by the kernel should the test binary die first (a panic, a timeout's kill).
		waited, err := lifeline.Start(cmd)
		if err != nil {
			t.Fatal(err)
		}
		w := &workerProc{cmd: cmd}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-waited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-waited
			}
		})
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("worker printed no address: %v", err)
		}
		w.addr = strings.TrimSpace(line)
		ws = append(ws, w)
	}
	return ws
}

func addrs(ws []*workerProc) string {
	var a []string
	for _, w := range ws {
		a = append(a, w.addr)
	}
	return strings.Join(a, ",")
}

// busy asks a worker whether an attack runs on it.
func busy(addr string) (bool, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/ready", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+workerKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var r struct {
		Busy bool `json:"busy"`
	}
	err = json.NewDecoder(resp.Body).Decode(&r)
	return r.Busy, err
}

// whenAttacking calls fn once the worker at addr has been attacking for d: a fault injected at
// a fixed time could land before the attack on a slow machine (the server still starting).
func whenAttacking(t *testing.T, addr string, d time.Duration, fn func()) {
	t.Helper()
	go func() {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if b, err := busy(addr); err == nil && b {
				time.Sleep(d)
				fn()
				return
			}
		}
	}()
}

// steadyRun runs steady once (distributed when workers is set) and returns its summary.
func steadyRun(t *testing.T, ctx context.Context, dsn, bin, workers string, extra ...string) (summary.Run, summary.Scenario, string, error) {
	t.Helper()
	out := t.TempDir()
	args := append(shortRunArgs(dsn, bin, out), "-scenarios", "steady")
	if workers != "" {
		args = append(args, "-workers", workers, "-workers-wait", "5s")
	}
	_, err := runRun(ctx, keyEnv, append(args, extra...)...)
	dir := filepath.Join(out, "latest")
	r, rerr := summary.Read(filepath.Join(dir, "summary.json"))
	if rerr != nil {
		t.Fatalf("%v (run: %v)", rerr, err)
	}
	return r, r.Scenarios[0], dir, err
}

// TestDistributedMergedEqualsSingle runs steady at the same total rate in one process and over
// three worker processes, interleaved (A B A B): the same requests, the same achieved rate
// within 1 %, the same windows, p50/p99 within what separates the single runs (when neither
// run found the machine busy), and the merged .bin read by vegeta's own metrics agrees with
// summary.json. One of the workers' clocks is 2 s ahead (-test-clock-skew): its offset is
// measured and corrected, so the windows still align and the workers start within 5 ms of each
// other. A merged percentile outside the single runs' noise is measured again in one more A B
// round, which must be within it: a merge or clock defect is in every round, while another test
// package's burst beside a 3-second run (CI runs the packages side by side) is in one.
func TestDistributedMergedEqualsSingle(t *testing.T) {
	dsn, bin := runEnv(t)
	ws := startWorkers(t, nil, nil, []string{"-test-clock-skew", "2s"})
	args := []string{"-rate", "600", "-duration", "3s", "-warmup", "500ms"}
	var single, merged []summary.Scenario
	round := func() {
		n := len(single) + 1
		_, a, _, err := steadyRun(t, context.Background(), dsn, bin, "", args...)
		single = append(single, passing(t, fmt.Sprintf("single %d", n), a, err))
		_, b, dir, err := steadyRun(t, context.Background(), dsn, bin, addrs(ws), args...)
		merged = append(merged, passing(t, fmt.Sprintf("merged %d", n), b, err))
		agreesWithVegeta(t, b, filepath.Join(dir, "steady.bin"))
		startSkew(t, b, ws[2].addr)
		if d := a.Requests - b.Requests; d > 1 || d < -1 || math.Abs(b.AchievedRate/a.AchievedRate-1) > 0.01 {
			t.Errorf("round %d: single %d requests at %.2f/s, merged %d at %.2f/s; want the same count (± the hit at the edge), rate within 1%%",
				n, a.Requests, a.AchievedRate, b.Requests, b.AchievedRate)
		}
		if !windowsAlign(a.Windows, b.Windows) {
			t.Errorf("round %d: windows differ:\nsingle %+v\nmerged %+v", n, a.Windows, b.Windows)
		}
		t.Logf("round %d: single p50 %.2f / p99 %.2f ms (%s, %.2f foreign cores); merged %.2f / %.2f ms (%s, %.2f foreign cores)", n,
			a.Latency.P50, a.Latency.P99, a.Verdict, foreign(a), b.Latency.P50, b.Latency.P99, b.Verdict, foreign(b))
	}
	// outOfNoise names the merged rounds whose p50 or p99 lies outside the single runs' span
	// (widened as noise says), skipping those a run found the machine busy in.
	outOfNoise := func() []string {
		p50s, p99s := make([]float64, len(single)), make([]float64, len(single))
		for i, a := range single {
			p50s[i], p99s[i] = a.Latency.P50, a.Latency.P99
		}
		p50 := noise(slices.Min(p50s), slices.Max(p50s), 0.5, 1)
		p99 := noise(slices.Min(p99s), slices.Max(p99s), 1, 2)
		var out []string
		for i, b := range merged {
			if p50(b.Latency.P50) && p99(b.Latency.P99) {
				continue
			}
			msg := fmt.Sprintf("round %d: merged p50 %.2f / p99 %.2f ms; single runs p50 %v / p99 %v ms", i+1, b.Latency.P50, b.Latency.P99, p50s, p99s)
			if a := single[i]; a.Verdict != summary.Pass || b.Verdict != summary.Pass {
				// Four processes on two cores feel a neighbour's load more than one does (each
				// result's latency is measured in its worker, which must be scheduled to read
				// it): on a machine the scenario found busy the tail judges the machine.
				t.Logf("%s (on a busy machine: %s %v / %s %v)", msg, a.Verdict, a.Reasons, b.Verdict, b.Reasons)
				continue
			}
			out = append(out, msg)
		}
		return out
	}
	round()
	round()
	first := outOfNoise()
	if len(first) == 0 {
		return
	}
	t.Logf("measuring again: %s", strings.Join(first, "; "))
	round()
	confirm := fmt.Sprintf("round %d:", len(merged))
	for _, msg := range outOfNoise() {
		if strings.HasPrefix(msg, confirm) {
			t.Errorf("merged percentiles outside the single runs' noise in %s, and again in the round that measured it again: %s",
				strings.Join(first, "; "), msg)
		}
	}
}

// passing returns sc after checking it passed (or was INVALID for the generator alone on a busy
// machine, which the caller's comparison does not need to fail on).
func passing(t *testing.T, name string, sc summary.Scenario, err error) summary.Scenario {
	t.Helper()
	if sc.Verdict != summary.Pass && !invalidGeneratorOnly(summary.Run{Verdict: sc.Verdict, Scenarios: []summary.Scenario{sc}}) {
		t.Fatalf("%s: %s %v (run: %v)", name, sc.Verdict, sc.Reasons, err)
	}
	return sc
}

// noise accepts a figure within the span of two reference runs widened by the larger of that
// span, rel of the lower one and abs ms: what "within run-to-run noise" means here.
func noise(a, b, rel, abs float64) func(float64) bool {
	lo, hi := min(a, b), max(a, b)
	tol := max(hi-lo, rel*lo, abs)
	return func(v float64) bool { return v >= lo-tol && v <= hi+tol }
}

// windowsAlign: the same one-second windows of the attack (by intended send time, from its
// first window: a distributed attack starts its schedule a moment later on the scenario's
// timeline, the workers' start lead) holding the same requests, give or take the one hit at a
// window's edge.
func windowsAlign(a, b []summary.Window) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if math.Abs((a[i].StartMs-a[0].StartMs)-(b[i].StartMs-b[0].StartMs)) > 0.001 {
			return false
		}
		if d := a[i].Requests - b[i].Requests; d > 1 || d < -1 {
			return false
		}
	}
	return true
}

// agreesWithVegeta reads the merged .bin with vegeta's decoder and metrics (what `vegeta report`
// does): the same count and the same p99 as summary.json.
func agreesWithVegeta(t *testing.T, sc summary.Scenario, bin string) {
	t.Helper()
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := vegeta.NewDecoder(bufio.NewReader(f))
	var m vegeta.Metrics
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err != nil {
			break
		}
		m.Add(&r)
	}
	m.Close()
	if int64(m.Requests) != sc.Requests || summary.Ms(m.Latencies.P99) != sc.Latency.P99 {
		t.Errorf("vegeta metrics of the merged .bin: %d requests, p99 %.3f ms; summary.json %d, %.3f ms",
			m.Requests, summary.Ms(m.Latencies.P99), sc.Requests, sc.Latency.P99)
	}
	if cli, err := exec.LookPath("vegeta"); err == nil {
		if out, err := exec.Command(cli, "report", bin).CombinedOutput(); err != nil || !strings.Contains(string(out), strconv.FormatInt(sc.Requests, 10)) {
			t.Errorf("vegeta report %s: %v\n%s", bin, err, out)
		}
	}
}

// startSkew: the spread of the workers' first send lateness is ≤ 5 ms (on a machine the
// scenario did not find busy), and the skewed worker's 2 s offset was measured.
func startSkew(t *testing.T, sc summary.Scenario, skewed string) {
	t.Helper()
	if len(sc.Workers) != 3 {
		t.Fatalf("workers %+v, want 3 rows", sc.Workers)
	}
	var firsts []float64
	for _, w := range sc.Workers {
		firsts = append(firsts, w.FirstSendLateMs)
		if w.Addr == skewed && math.Abs(w.ClockOffsetMs-2000) > 5 {
			t.Errorf("worker %s clock offset %.3f ms, want 2000 ± 5 (its -test-clock-skew)", w.Addr, w.ClockOffsetMs)
		}
	}
	spread := slices.Max(firsts) - slices.Min(firsts)
	switch {
	case spread <= 5:
	case sc.Verdict != summary.Pass:
		// A machine busy with other work (the scenario says so: INVALID) delays a process's
		// first wake-up by milliseconds: the skew then judges the machine, as the lateness does.
		t.Logf("start skew %.2f ms (first sends %v ms late) on a busy machine: %v", spread, firsts, sc.Reasons)
	default:
		t.Errorf("start skew %.2f ms (first sends %v ms late), want ≤ 5 ms", spread, firsts)
	}
}

// TestDistributedFaults: a worker killed mid-run, one that never becomes ready, one that falls
// behind, and clocks measured less precisely than allowed each give their verdict, the worker
// named.
func TestDistributedFaults(t *testing.T) {
	dsn, bin := runEnv(t)
	t.Run("killed mid-run", func(t *testing.T) {
		ws := startWorkers(t, nil, nil, nil)
		victim := ws[1]
		whenAttacking(t, victim.addr, shortSteadyLead+1500*time.Millisecond, func() { _ = victim.cmd.Process.Kill() })
		out := t.TempDir()
		_, err := runRun(context.Background(), keyEnv, append(shortRunArgs(dsn, bin, out), "-scenarios", "steady,cancel",
			"-duration", "5s", "-workers", addrs(ws))...)
		r, rerr := summary.Read(filepath.Join(out, "latest", "summary.json"))
		if rerr != nil {
			t.Fatal(rerr)
		}
		sc := r.Scenarios[0]
		if err == nil || exitCode(err) != 1 || sc.Verdict != summary.Interrupted || !r.Partial ||
			!strings.Contains(strings.Join(sc.Reasons, " "), "worker "+victim.addr+" lost") || sc.Requests == 0 ||
			r.Scenarios[1].Verdict != summary.Skipped || sc.Workers[1].Lost == "" {
			t.Fatalf("exit %d, verdict %s, partial %v, reasons %v, %d requests, then %s; want INTERRUPTED naming %s, results kept, cancel skipped",
				exitCode(err), sc.Verdict, r.Partial, sc.Reasons, sc.Requests, r.Scenarios[1].Verdict, victim.addr)
		}
		if st, err := os.Stat(filepath.Join(out, "latest", "steady.bin")); err != nil || st.Size() == 0 {
			t.Errorf("steady.bin of the cut run: %v", err)
		}
	})
	t.Run("never ready", func(t *testing.T) {
		ws := startWorkers(t, nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gone := ln.Addr().String()
		ln.Close()
		_, err = runRun(context.Background(), keyEnv, append(shortRunArgs(dsn, bin, t.TempDir()), "-scenarios", "steady",
			"-workers", ws[0].addr+","+gone, "-workers-wait", "1s")...)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "worker "+gone) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("run = %v (exit %d); want exit 2, one line naming %s", err, exitCode(err), gone)
		}
	})
	t.Run("falls behind", func(t *testing.T) {
		ws := startWorkers(t, nil, []string{"-test-lag", "100ms"}, nil)
		_, sc, _, err := steadyRun(t, context.Background(), dsn, bin, addrs(ws), "-rate", "60", "-duration", "2s")
		if exitCode(err) != 1 || sc.Verdict != summary.Invalid || !strings.Contains(strings.Join(sc.Reasons, " "), "worker "+ws[1].addr+" fell behind") ||
			strings.Contains(strings.Join(sc.Reasons, " "), "worker "+ws[0].addr+" fell") {
			t.Fatalf("verdict %s, reasons %v (run: %v); want INVALID naming %s alone", sc.Verdict, sc.Reasons, err, ws[1].addr)
		}
	})
	t.Run("clock uncertainty", func(t *testing.T) {
		ws := startWorkers(t, nil, nil)
		_, sc, _, err := steadyRun(t, context.Background(), dsn, bin, addrs(ws), "-duration", "1s", "-max-clock-uncertainty", "1us")
		if exitCode(err) != 1 || sc.Verdict != summary.Invalid || !strings.Contains(strings.Join(sc.Reasons, " "), "worker clocks") {
			t.Fatalf("verdict %s, reasons %v; want INVALID for the worker clocks", sc.Verdict, sc.Reasons)
		}
	})
}

// TestDistributedInterrupt cancels a distributed run mid-attack (Ctrl-C): exit 1, a partial
// INTERRUPTED report with what arrived, every worker told to stop (idle again), and no process
// left but the workers this test started.
func TestDistributedInterrupt(t *testing.T) {
	dsn, bin := runEnv(t)
	ws := startWorkers(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	whenAttacking(t, ws[0].addr, shortSteadyLead+time.Second, cancel)
	r, sc, _, err := steadyRun(t, ctx, dsn, bin, addrs(ws), "-duration", "10s")
	if err == nil || exitCode(err) != 1 || !r.Partial || sc.Verdict != summary.Interrupted || sc.Requests == 0 {
		t.Fatalf("run = %v (exit %d), partial %v, %s with %d requests; want exit 1, partial, INTERRUPTED with results",
			err, exitCode(err), r.Partial, sc.Verdict, sc.Requests)
	}
	for _, w := range ws {
		if b, err := busy(w.addr); err != nil || b {
			t.Errorf("worker %s after the interrupt: busy %v, %v; want idle", w.addr, b, err)
		}
	}
	mine := map[string]bool{}
	for _, w := range ws {
		mine[strconv.Itoa(w.cmd.Process.Pid)] = true
	}
	for _, pid := range children(t) {
		if !mine[pid] {
			t.Errorf("child process %s left after the interrupt", pid)
		}
	}
}

// TestWorkerCommandBadInput: a bad flag, or a missing or short key where one is required, is
// exit 2 with one line, and never the key.
func TestWorkerCommandBadInput(t *testing.T) {
	short := func(k string) string {
		if k == "LOADTEST_WORKER_KEY" {
			return "s3cret"
		}
		return ""
	}
	tests := []struct {
		name   string
		args   []string
		getenv func(string) string
		want   string
	}{
		{"no listen", nil, noEnv, "-listen is required"},
		{"unknown flag", []string{"-nope"}, noEnv, "flag provided but not defined"},
		{"bad address", []string{"-listen", "127.0.0.1:99999"}, noEnv, "invalid port"},
		{"stray argument", []string{"-listen", "127.0.0.1:0", "extra"}, noEnv, `unexpected argument "extra"`},
		{"no key off loopback", []string{"-listen", "0.0.0.0:0"}, noEnv, "no worker key (LOADTEST_WORKER_KEY)"},
		{"short key", []string{"-listen", "127.0.0.1:0"}, short, "is 6 bytes: want at least 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"loadtest", "worker"}, tt.args...), tt.getenv, &out, io.Discard)
			if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") ||
				strings.Contains(err.Error(), "s3cret") || out.Len() > 0 {
				t.Fatalf("worker %v = %v (exit %d), printed %q; want exit 2 and one line containing %q", tt.args, err, exitCode(err), out.String(), tt.want)
			}
		})
	}
}

// TestWorkerCommandLoopbackKey: a worker on loopback without a key makes one, prints it once
// as its second line, and answers only with it.
func TestWorkerCommandLoopbackKey(t *testing.T) {
	bin := build(t, "github.com/benchharness/benchharness/loadtest")
	cmd := exec.Command(bin, "worker", "-listen", "127.0.0.1:0")
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "LOADTEST_WORKER_KEY=") })
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	br := bufio.NewReader(out)
	addr, _ := br.ReadString('\n')
	line, _ := br.ReadString('\n')
	key, ok := strings.CutPrefix(strings.TrimSpace(line), "LOADTEST_WORKER_KEY=")
	if !ok || len(key) < 32 {
		t.Fatalf("second line %q; want LOADTEST_WORKER_KEY= and a key of ≥ 32 bytes", line)
	}
	for _, k := range []string{"", key} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+strings.TrimSpace(addr)+"/v1/ready", nil)
		if k != "" {
			req.Header.Set("Authorization", "Bearer "+k)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: http.StatusUnauthorized, true: http.StatusOK}[k != ""]; resp.StatusCode != want {
			t.Errorf("GET /v1/ready with the printed key %v: %d, want %d", k != "", resp.StatusCode, want)
		}
	}
}

// foreign is the CPU that processes outside the benchmark ran during sc's attack (0: not measured).
func foreign(sc summary.Scenario) float64 {
	if sc.Contention == nil {
		return 0
	}
	return sc.Contention.ForeignCPUs
}
