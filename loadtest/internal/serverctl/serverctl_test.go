package serverctl

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestTailKeepsLastLines(t *testing.T) {
	tl := newTail(2)
	for _, chunk := range []string{"one\ntw", "o\nthree\n", "four (no newline yet)"} {
		if _, err := tl.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := tl.String(), "two\nthree\nfour (no newline yet)"; got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
}

func TestStartFailures(t *testing.T) {
	ctx := context.Background()
	if _, err := Start(ctx, Config{Bin: "/nonexistent/server", DatabaseURL: "postgres://x"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/server") {
		t.Errorf("Start of a missing binary = %v, want an error naming it", err)
	}
	if _, err := Start(ctx, Config{Bin: "/bin/true"}); err == nil || !strings.Contains(err.Error(), "database") {
		t.Errorf("Start without a database URL = %v", err)
	}
	// A process that exits at once is reported with its exit code, not waited on for StartWait.
	_, err := Start(ctx, Config{Bin: "/bin/false", DatabaseURL: "postgres://x", StartWait: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "exited with code 1") {
		t.Errorf("Start of a process that exits = %v", err)
	}
}

func TestSecretsAreFresh(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if len(a) < 32 || a == b {
		t.Errorf("secrets %q, %q: want ≥ 32 bytes and different", a, b)
	}
}

func TestExternalUnreachable(t *testing.T) {
	if _, err := NewExternal(context.Background(), "http://127.0.0.1:1", "http://127.0.0.1:1", 200*time.Millisecond); err == nil {
		t.Error("NewExternal of a closed port succeeded")
	}
}

func TestWithApplicationName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u@127.0.0.1:5432/items?sslmode=disable", "postgres://u@127.0.0.1:5432/items?application_name=items-server-x&sslmode=disable"},
		{"postgres://u@127.0.0.1/items?application_name=mine", "postgres://u@127.0.0.1/items?application_name=items-server-x"},
		{"postgresql://127.0.0.1/items", "postgresql://127.0.0.1/items?application_name=items-server-x"},
		{"host=127.0.0.1 dbname=items", "host=127.0.0.1 dbname=items application_name=items-server-x"},
	}
	for _, tt := range tests {
		got, err := withApplicationName(tt.in, "items-server-x")
		if err != nil || got != tt.want {
			t.Errorf("withApplicationName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := withApplicationName("postgres://u:secret@[::1/items", "x"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad URL: err = %v, want an error that does not echo the URL", err)
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		name, line string
		timeout    time.Duration
		wantErr    string // "" for success
		wantOut    string
	}{
		{name: "success", line: "echo signalled", wantOut: "signalled"},
		{name: "exit status and last line", line: "echo first; echo 'pods is forbidden' >&2; exit 3", wantErr: "exit status 3: pods is forbidden"},
		{name: "timeout", line: "echo waiting; sleep 30", timeout: 200 * time.Millisecond, wantErr: "timed out after 200ms: waiting"},
		{name: "not a command", line: "no-such-command-here", wantErr: "exit status 127"},
		{name: "secret redacted", line: "echo Bearer tok-123.abc", wantOut: "Bearer xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			out, err := Command{Line: tt.line, Timeout: tt.timeout, Secrets: []string{"tok-123.abc"}}.Run(context.Background())
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Run took %s", took)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Run(%q) = %v", tt.line, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Run(%q) = %v, want an error with %q", tt.line, err, tt.wantErr)
			}
			if !strings.Contains(out, tt.wantOut) || strings.Contains(out, "tok-123") {
				t.Errorf("output %q, want %q and no secret", out, tt.wantOut)
			}
		})
	}
}

// TestCommandTimeoutEndsItsChildren: a timeout kills the command's whole process group, so a
// child it started in the background does not outlive it.
func TestCommandTimeoutEndsItsChildren(t *testing.T) {
	out, err := Command{Line: "sleep 30 & echo $!; wait", Timeout: 300 * time.Millisecond}.Run(context.Background())
	if err == nil {
		t.Fatal("a command past its timeout succeeded")
	}
	pid, convErr := strconv.Atoi(strings.TrimSpace(out))
	if convErr != nil {
		t.Fatalf("child pid from %q: %v", out, convErr)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child pid %d still running after the command's timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive: the process exists and is not a zombie waiting for a parent that is gone.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}
