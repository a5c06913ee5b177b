package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// orphanDeadline is how long a managed server may outlive the harness that started it.
const orphanDeadline = time.Second

// TestKilledHarnessLeavesNoServer kills `loadtest run` with SIGKILL mid-attack, which no
// handler sees: within a second no server process of that run remains.
func TestKilledHarnessLeavesNoServer(t *testing.T) {
	h := startHarness(t)
	servers := h.servers(t)
	time.Sleep(time.Second) // into the attack
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-h.done
	gone(t, servers)
}

// TestSecondInterruptStopsAtOnce sends the harness SIGINT twice mid-attack: the first asks it
// to stop and write what it has, the second stops it at once, by the signal, with no server
// process of that run left.
func TestSecondInterruptStopsAtOnce(t *testing.T) {
	h := startHarness(t)
	servers := h.servers(t)
	time.Sleep(time.Second)
	for range 2 {
		if err := h.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the first one handled before the second arrives
	}
	select {
	case <-h.done:
		ws, ok := h.cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			t.Errorf("harness ended with %v, want killed by the second SIGINT; stderr:\n%s", h.cmd.ProcessState, h.log())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the harness still runs 10 s after two interrupts")
	}
	gone(t, servers)
}

// TestWorkerDiesWithItsScript kills, with SIGKILL, the shell script that started a
// `loadtest worker -parent-pid $$` (what scripts/bench-distributed.sh does): no trap runs,
// and within a second the worker is gone.
func TestWorkerDiesWithItsScript(t *testing.T) {
	loadtest := build(t, "github.com/benchharness/benchharness/loadtest")
	script := exec.Command("sh", "-c", `"$0" worker -parent-pid $$ -listen 127.0.0.1:0 & echo "pid $!"; wait`, loadtest)
	out, err := script.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	script.Stderr = stderr
	if err := script.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = script.Process.Kill(); _ = script.Wait() })
	// Two lines in either order: the worker's PID (from the script) and its address, printed
	// once it has set its parent-death signal.
	worker, listening := 0, false
	lines := bufio.NewScanner(out)
	for (worker == 0 || !listening) && lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), "pid "); ok {
			worker, _ = strconv.Atoi(v)
		} else {
			listening = true
		}
	}
	if worker == 0 || !listening {
		b, _ := os.ReadFile(stderr.Name())
		t.Fatalf("worker pid %d, listening %v; stderr:\n%s", worker, listening, b)
	}
	t.Cleanup(func() {
		if running(worker) {
			_ = syscall.Kill(worker, syscall.SIGKILL)
		}
	})
	if err := script.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	gone(t, []int{worker})
}

// harness is a `loadtest run` process of the built binary.
type harness struct {
	cmd       *exec.Cmd
	done      chan struct{} // closed once the process has exited
	serverBin string
	stderr    string // the file holding its stderr
}

// log returns what the harness wrote to stderr so far.
func (h *harness) log() string {
	b, _ := os.ReadFile(h.stderr)
	return string(b)
}

// startHarness starts `loadtest run` of a long steady scenario; it is killed when the test ends.
func startHarness(t *testing.T) *harness {
	t.Helper()
	dsn, bin := runEnv(t)
	loadtest := build(t, "github.com/benchharness/benchharness/loadtest")
	args := append([]string{"run"}, shortRunArgs(dsn, bin, t.TempDir())...)
	cmd := exec.Command(loadtest, append(args, "-scenarios", "steady", "-duration", "30s")...)
	h := &harness{cmd: cmd, done: make(chan struct{}), serverBin: bin, stderr: filepath.Join(t.TempDir(), "stderr")}
	f, err := os.Create(h.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child has its own copy
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-h.done
	})
	return h
}

// servers waits until the harness runs a server (its child running the server binary) and
// returns their PIDs, read from /proc: the harness is killed before it could say.
func (h *harness) servers(t *testing.T) []int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var pids []int
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", h.cmd.Process.Pid))
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			for _, field := range strings.Fields(string(b)) {
				pid, _ := strconv.Atoi(field)
				if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe == h.serverBin {
					pids = append(pids, pid)
				}
			}
		}
		if len(pids) > 0 {
			// Whatever this test leaves behind is stopped by its PID.
			t.Cleanup(func() {
				for _, pid := range pids {
					if running(pid) {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			})
			return pids
		}
	}
	t.Fatalf("no server process under the harness after 30 s; stderr:\n%s", h.log())
	return nil
}

// gone fails unless every pid has stopped running within orphanDeadline.
func gone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(orphanDeadline)
	for _, pid := range pids {
		for running(pid) {
			if time.Now().After(deadline) {
				t.Errorf("pid %d still runs %s after its parent ended", pid, orphanDeadline)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// running reports whether pid is a live process (a zombie waits for a reaper and runs nothing).
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}
