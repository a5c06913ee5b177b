package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// The -server-cmd tests run every scenario against examples/notes, a service written apart from
// the items server, with no database: a healthy one passes, and each deliberate bug fails the
// scenario that is about it, for its own reason.

// notesArgs are the flags of a short run against the notes example built for the tests, with
// its fault (empty: healthy).
func notesArgs(t *testing.T, out, fault string) []string {
	t.Helper()
	bin := build(t, "github.com/benchharness/benchharness/examples/notes")
	cmd := bin + " -addr 127.0.0.1:{port} -drain-delay 200ms"
	if fault != "" {
		cmd += " -fault " + fault
	}
	targets := filepath.Join("..", "examples", "notes", "targets")
	return []string{"-server-cmd", cmd, "-out", out,
		"-targets", filepath.Join(targets, "requests.http"), "-held-targets", filepath.Join(targets, "held.http"),
		"-rate", "50", "-duration", "2s", "-warmup", "500ms", "-cpu-profile", "1s", "-slo-p99", "1s", "-max-error-rate", "0.05",
		"-max-lateness", "500ms", "-cancel-timeout", "200ms", "-shutdown-duration", "3s", "-shutdown-at", "1s", "-hold-share", "0.1",
		"-drain-delay", "200ms", "-ramp-from", "20", "-ramp-to", "60", "-ramp-steps", "2", "-ramp-step", "1s", "-ramp-cpu-rate", "0"}
}

// latestRun reads the run folder the last run in out wrote.
func latestRun(t *testing.T, out string) summary.Run {
	t.Helper()
	run, err := summary.Read(filepath.Join(out, "latest", "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func TestServiceCommandVerdicts(t *testing.T) {
	tests := []struct {
		name      string
		fault     string
		scenarios string
		extra     []string
		want      map[string]summary.Verdict
		reason    map[string]string // scenario → a reason it must give
	}{
		{name: "healthy", scenarios: "steady,cancel,shutdown,ramp",
			want: map[string]summary.Verdict{"steady": summary.Pass, "cancel": summary.Pass, "shutdown": summary.Pass, "ramp": summary.Pass},
			// No pool or database: the goroutines and the cancels seen (httpcount) judged it,
			// and it says so.
			reason: map[string]string{"cancel": "not available: pool acquired"}},
		{name: "closes on SIGTERM without draining", fault: "no-drain", scenarios: "shutdown",
			want: map[string]summary.Verdict{"shutdown": summary.Fail}, reason: map[string]string{"shutdown": "accepted requests lost"}},
		{name: "slow handler ignores its context", fault: "ignore-ctx", scenarios: "cancel",
			want: map[string]summary.Verdict{"cancel": summary.Fail}, reason: map[string]string{"cancel": "goroutines back at baseline"}},
		{name: "no server-side signal", scenarios: "cancel", extra: []string{"-pprof-url", "/nope", "-metrics-url", "/nope"},
			want: map[string]summary.Verdict{"cancel": summary.Invalid}, reason: map[string]string{"cancel": "server-side signal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			args := append(append(notesArgs(t, out, tt.fault), "-scenarios", tt.scenarios), tt.extra...)
			stdout, err := runRun(context.Background(), noEnv, args...)
			if err != nil && exitCode(err) == 2 {
				t.Fatalf("run: %v\n%s", err, stdout)
			}
			run := latestRun(t, out)
			for _, sc := range run.Scenarios {
				want, ok := tt.want[sc.Name]
				if !ok {
					continue
				}
				reasons := strings.Join(sc.Reasons, "; ")
				if sc.Verdict == summary.Invalid && want != summary.Invalid && generatorOnly(sc) {
					t.Logf("%s INVALID on a busy machine: %s", sc.Name, reasons)
					continue
				}
				if sc.Verdict != want {
					t.Errorf("%s: %s (%s), want %s; codes %v, errors %v", sc.Name, sc.Verdict, reasons, want, sc.StatusCodes, sc.ErrorClasses)
				}
				if r := tt.reason[sc.Name]; r != "" && !strings.Contains(reasons, r) {
					t.Errorf("%s reasons %q, want one with %q", sc.Name, reasons, r)
				}
				if tt.extra == nil && (sc.Signals == nil || sc.Signals.Goroutines != "go_goroutines" || !sc.Signals.Cancelled || sc.Signals.PprofURL == "") {
					t.Errorf("%s signals %+v, want go_goroutines, the cancelled counter (httpcount) and pprof found", sc.Name, sc.Signals)
				}
				if sc.Name == "cancel" && tt.fault == "" && tt.extra == nil && (sc.Cancel == nil || sc.Cancel.CancelsSeen <= 0) {
					t.Errorf("cancel figures %+v: want the cancels the service counted", sc.Cancel)
				}
			}
		})
	}
}

// generatorOnly: every failed check is the attack engine's validity (the generator fell behind
// on a busy machine), which says nothing about the service.
func generatorOnly(sc summary.Scenario) bool {
	for _, c := range sc.Checks {
		if !c.Pass && (c.Kind != summary.Validity || c.Name == "server-side signal") {
			return false
		}
	}
	return true
}

func TestServiceCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.http")
	if err := os.WriteFile(garbage, []byte("FETCH me the data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join("..", "examples", "notes", "targets", "requests.http")
	tests := []struct {
		name string
		args []string
		want []string // all in the one-line error
	}{
		{"targets that do not parse", []string{"-server-cmd", "x {port}", "-targets", garbage}, []string{"-targets " + garbage, "does not parse", "bad URL"}},
		{"unknown placeholder", []string{"-server-cmd", "x -addr 127.0.0.1:{prot} {port}", "-targets", good}, []string{"unknown placeholder {prot}"}},
		{"no port placeholder", []string{"-server-cmd", "x -addr 127.0.0.1:8080", "-targets", good}, []string{"pass {port}"}},
		{"no targets", []string{"-server-cmd", "x {port}"}, []string{"-targets FILE is required"}},
		{"exits at once", []string{"-server-cmd", `sh -c 'echo starting on $0; echo config.yaml: no such file >&2; exit 3' {port}`, "-targets", good},
			[]string{"exited with code 3 before it was ready", "last output line: config.yaml: no such file"}},
		{"never ready", []string{"-server-cmd", `sh -c 'echo waiting for nothing; exec sleep 30' {port}`, "-targets", good, "-ready-timeout", "1s"},
			[]string{"not ready after 1s", "connection refused", "last output line: waiting for nothing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runRun(context.Background(), noEnv, append(tt.args, "-scenarios", "steady", "-out", t.TempDir())...)
			if err == nil || exitCode(err) != 2 {
				t.Fatalf("run = %v (exit %d), want exit 2", err, exitCode(err))
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q, want %q in it", msg, w)
				}
			}
		})
	}
}

// TestServiceExternal: a running service reached by -target alone (no -admin, no -token) is
// judged on what it exposes; shutdown is skipped without -signal-cmd, and with one that sends
// SIGTERM it passes, the exit code out of reach.
func TestServiceExternal(t *testing.T) {
	bin := build(t, "github.com/benchharness/benchharness/examples/notes")
	addrs, err := serverctl.FreePorts("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-addr", addrs[0], "-drain-delay", "200ms")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	out := t.TempDir()
	args := notesArgs(t, out, "")
	args = append(args[2:], "-target", "http://"+addrs[0], "-scenarios", "steady,cancel,shutdown",
		"-signal-cmd", "kill -TERM "+strconv.Itoa(cmd.Process.Pid))
	stdout, err := runRun(context.Background(), noEnv, args...)
	if err != nil && exitCode(err) == 2 {
		t.Fatalf("run: %v\n%s", err, stdout)
	}
	for _, sc := range latestRun(t, out).Scenarios {
		reasons := strings.Join(sc.Reasons, "; ")
		if sc.Verdict != summary.Pass && !(sc.Verdict == summary.Invalid && generatorOnly(sc)) {
			t.Errorf("%s against the running service: %s (%s)", sc.Name, sc.Verdict, reasons)
		}
		if sc.Name == "shutdown" && (sc.Shutdown == nil || !sc.Shutdown.SignalCmd || sc.Shutdown.DrainMs < 0) {
			t.Errorf("shutdown %+v: want signalled by -signal-cmd and the drain seen", sc.Shutdown)
		}
	}
}
