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
