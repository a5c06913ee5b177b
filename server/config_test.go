package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/benchharness/benchharness/server/internal/auth"
)

const testSecret = "main-test-secret-0123456789abcdef-0123"

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func validEnv() map[string]string {
	return map[string]string{
		"DATABASE_URL": "postgres://u@127.0.0.1:5432/items",
		"JWT_SECRET":   testSecret,
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := loadConfig(env(validEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.AdminAddr != "127.0.0.1:6060" || c.ShutdownTimeout != 10*time.Second ||
		c.DrainDelay != 0 || c.ReadHeaderTimeout != 5*time.Second || c.ReadTimeout != 10*time.Second ||
		c.WriteTimeout != 10*time.Second || c.IdleTimeout != 10*time.Second || c.MaxBodyBytes != 1<<20 ||
		c.BenchDelay || c.Faults.LeakGoroutine || c.Faults.IgnoreCancel || c.Faults.LockContention || c.Faults.AllocStorm || c.DropWrites || c.StallAccept || c.Faults.SlowLeak || c.Faults.TrickleLeak || c.Faults.Sawtooth || c.ExtraLatency != 0 || c.ExtraCPU != 0 ||
		c.DBMaxConns != 0 || c.RequestTimeout != 8*time.Second || c.AcquireTimeout != time.Second {
		t.Fatalf("defaults differ from docs/contracts.md: %+v", c)
	}
	e := validEnv()
	e["BENCH_FAULTS"] = "leak-goroutine, ignore-cancel,drop-writes,lock-contention, alloc-storm,stall-accept,slow-leak,trickle-leak,sawtooth"
	e["BENCH_DELAY"] = "on"
	e["ADDR"] = "127.0.0.1:0"
	e["BENCH_EXTRA_CPU"] = "250us"
	c, err = loadConfig(env(e))
	if err != nil {
		t.Fatal(err)
	}
	if c.ExtraCPU != 250*time.Microsecond {
		t.Fatalf("BENCH_EXTRA_CPU=250us read as %s", c.ExtraCPU)
	}
	if !c.Faults.LeakGoroutine || !c.Faults.IgnoreCancel || !c.DropWrites || !c.BenchDelay ||
		!c.Faults.LockContention || !c.Faults.AllocStorm || !c.StallAccept || !c.Faults.SlowLeak || !c.Faults.TrickleLeak || !c.Faults.Sawtooth || len(c.FaultNames) != 9 {
		t.Fatalf("faults/bench delay not read: %+v", c)
	}
}

func TestBadSettings(t *testing.T) {
	tests := []struct {
		name, value string
	}{
		{"DATABASE_URL", ""},
		{"DATABASE_URL", "postgres://u:secretpw@host:notaport/db"},
		{"JWT_SECRET", ""},
		{"JWT_SECRET", "too-short-secret"},
		{"ADDR", "8080"},
		{"ADDR", "127.0.0.1:99999"},
		{"ADMIN_ADDR", "localhost"},
		{"SHUTDOWN_TIMEOUT", "10"},
		{"SHUTDOWN_TIMEOUT", "-1s"},
		{"DRAIN_DELAY", "soon"},
		{"READ_HEADER_TIMEOUT", "x"},
		{"READ_TIMEOUT", "x"},
		{"WRITE_TIMEOUT", "x"},
		{"IDLE_TIMEOUT", "x"},
		{"MAX_BODY_BYTES", "0"},
		{"MAX_BODY_BYTES", "1MB"},
		{"BENCH_DELAY", "yes"},
		{"BENCH_FAULTS", "leak-goroutine,explode"},
		{"BENCH_EXTRA_LATENCY", "5"},
		{"DB_MAX_CONNS", "0"},
		{"DB_MAX_CONNS", "many"},
		{"DB_MIN_CONNS", "-1"},
		{"DB_MIN_CONNS", "9"}, // over DB_MAX_CONNS=8, set below
		{"BENCH_EXTRA_CPU", "-1ms"},
		{"BENCH_EXTRA_CPU", "lots"},
		{"BLOCK_PROFILE_RATE", "-1"},
		{"MUTEX_PROFILE_FRACTION", "half"},
		{"LOG_LEVEL", "loud"},
		{"REUSEPORT", "yes"},
		{"LISTEN_FDS", "2"}, // one inherited API listener only
		{"LISTEN_FDS", "x"},
		{"LISTEN_PID", "0"},
		{"REQUEST_TIMEOUT", "0s"},
		{"REQUEST_TIMEOUT", "10s"}, // not less than the default WRITE_TIMEOUT: the 503 could not be written
		{"REQUEST_TIMEOUT", "soon"},
		{"DB_ACQUIRE_TIMEOUT", "0s"},
		{"DB_ACQUIRE_TIMEOUT", "9s"}, // over the default REQUEST_TIMEOUT

		{"OTEL_TRACES_SAMPLER", "sometimes"},
		{"OTEL_TRACES_SAMPLER_ARG", "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			e := validEnv()
			e[tt.name] = tt.value
			switch tt.name {
			case "OTEL_TRACES_SAMPLER_ARG":
				e["OTEL_TRACES_SAMPLER"] = "traceidratio"
			case "DB_MIN_CONNS":
				e["DB_MAX_CONNS"] = "8"
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"server"}, env(e), &stdout, &stderr)
			code := exitCode(err, &stderr)
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], tt.name) {
				t.Fatalf("exit %d, stderr %q; want 2 and one line naming %s", code, stderr.String(), tt.name)
			}
			if strings.Contains(stderr.String(), "secretpw") || (tt.name == "JWT_SECRET" && tt.value != "" && strings.Contains(stderr.String(), tt.value)) {
				t.Fatalf("stderr leaks a secret: %q", stderr.String())
			}
		})
	}
}

func TestTokenCommand(t *testing.T) {
	e := map[string]string{"JWT_SECRET": testSecret, "JWT_ISSUER": "bench"}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"server", "token", "-sub", "alice", "-ttl", "5m"}, env(e), &stdout, &stderr); err != nil {
		t.Fatalf("token: %v (stderr %q)", err, stderr.String())
	}
	out := stdout.String()
	if strings.Count(out, "\n") != 1 || stderr.Len() != 0 {
		t.Fatalf("stdout %q stderr %q: want the token alone on one line", out, stderr.String())
	}
	v, err := auth.NewVerifier([]byte(testSecret), "bench")
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := v.Verify(strings.TrimSpace(out)); err != nil || sub != "alice" {
		t.Fatalf("minted token: sub %q, %v", sub, err)
	}
	for _, bad := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"server", "token", "-ttl", "forever"}, e},
		{[]string{"server", "token", "-ttl", "-1h"}, e},
		{[]string{"server", "token", "-sub", ""}, e},
		{[]string{"server", "token", "extra"}, e},
		{[]string{"server", "token"}, map[string]string{}},
		{[]string{"server", "token"}, map[string]string{"JWT_SECRET": "short"}},
		{[]string{"server", "frobnicate"}, e},
		{[]string{"server", "serve", "now"}, e},
	} {
		stdout.Reset()
		stderr.Reset()
		err := run(context.Background(), bad.args, env(bad.env), &stdout, &stderr)
		if code := exitCode(err, &stderr); code != 2 || stdout.Len() != 0 {
			t.Errorf("%q: exit %d stdout %q, want 2 and nothing on stdout", bad.args, code, stdout.String())
		}
	}
}

func TestExitCodes(t *testing.T) {
	var sink bytes.Buffer
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errForcedShutdown, 3},
		{&settingError{"X", "bad"}, 2},
		{&usageError{"bad"}, 2},
		{errors.New("listen: address in use"), 1},
	} {
		if got := exitCode(tt.err, &sink); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestUnknownFaultNamesEveryFault: the message of an unknown fault is the list an operator picks
// from, so every fault loadConfig knows must be in it.
func TestUnknownFaultNamesEveryFault(t *testing.T) {
	e := validEnv()
	e["BENCH_FAULTS"] = "explode"
	_, err := loadConfig(env(e))
	if err == nil {
		t.Fatal("unknown fault accepted")
	}
	for _, f := range []string{"leak-goroutine", "ignore-cancel", "drop-writes", "slow-leak", "trickle-leak", "sawtooth"} {
		e["BENCH_FAULTS"] = f
		if _, ferr := loadConfig(env(e)); ferr != nil {
			t.Fatalf("BENCH_FAULTS=%s: %v", f, ferr)
		}
		if !strings.Contains(err.Error(), f) {
			t.Errorf("unknown-fault message %q does not name %s", err, f)
		}
	}
}
