package serverctl

import (
	"context"
	"strings"
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

func TestExternalCannotSignal(t *testing.T) {
	e := &External{api: "http://127.0.0.1:1", admin: "http://127.0.0.1:1"}
	if err := e.Signal(nil); err != ErrNoSignals {
		t.Errorf("Signal = %v, want ErrNoSignals", err)
	}
	if _, err := NewExternal(context.Background(), "http://127.0.0.1:1", "http://127.0.0.1:1", 200*time.Millisecond); err == nil {
		t.Error("NewExternal of a closed port succeeded")
	}
}
