package main

import (
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// instanceOf sends one request on a new connection and returns the X-Instance-Id it got.
func instanceOf(t *testing.T, addr string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/api/v1/items")
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	resp.Body.Close()
	return resp.Header.Get(InstanceHeader)
}

// logged returns the instance id a process logged in its "listening" line.
func logged(t *testing.T, p *process) string {
	t.Helper()
	m, _ := p.logs.find("listening")
	id, _ := m["instance"].(string)
	if id == "" {
		t.Fatalf("no instance in the listening line:\n%s", p.logs)
	}
	return id
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestReusePortTwoProcesses: two real servers with REUSEPORT=on bind one port and the kernel
// spreads new connections over both (each answer names its process); without it on the second,
// the second cannot bind.
func TestReusePortTwoProcesses(t *testing.T) {
	for _, tt := range []struct {
		name      string
		second    string // the second process's REUSEPORT
		wantBoth  bool
		wantFirst bool
	}{
		{"both on", "on", true, true},
		{"second off", "off", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := freeAddr(t)
			a := start(t, serverEnv(t, map[string]string{"ADDR": addr, "REUSEPORT": "on"}))
			b := launch(t, serverEnv(t, map[string]string{"ADDR": addr, "REUSEPORT": tt.second}))
			if !tt.wantBoth {
				if code := b.wait(t); code != 1 {
					t.Fatalf("second server without SO_REUSEPORT: exit %d, want 1 (address in use); logs:\n%s", code, b.logs)
				}
				if id := instanceOf(t, addr); id != logged(t, a) {
					t.Fatalf("answer from %q, want the first server %q", id, logged(t, a))
				}
				return
			}
			b.addr, b.admin = waitListening(t, b.logs, b.exited)
			seen := map[string]int{}
			for range 200 {
				seen[instanceOf(t, addr)]++
			}
			ida, idb := logged(t, a), logged(t, b)
			if ida == idb || seen[ida] == 0 || seen[idb] == 0 || len(seen) != 2 {
				t.Fatalf("answers by instance %v, want both %s and %s", seen, ida, idb)
			}
		})
	}
}

// TestInheritedFDs: a server given a listening socket on fd 3 (LISTEN_FDS=1) serves on it, not
// on ADDR; a second one given the same socket takes over when the first is told to go, and no
// request between is refused. A LISTEN_PID naming another process leaves fd 3 alone.
func TestInheritedFDs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addr := ln.Addr().String()

	t.Run("LISTEN_PID of another process", func(t *testing.T) {
		p := launch(t, serverEnv(t, map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": strconv.Itoa(os.Getpid())}), f)
		p.addr, p.admin = waitListening(t, p.logs, p.exited)
		if p.addr == addr {
			t.Fatalf("served on the inherited %s although LISTEN_PID named another process", addr)
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(t)
	})

	env := map[string]string{"LISTEN_FDS": "1", "SHUTDOWN_TIMEOUT": "5s"}
	a := launch(t, serverEnv(t, env), f)
	a.addr, a.admin = waitListening(t, a.logs, a.exited)
	if a.addr != addr {
		t.Fatalf("first server listens on %s, want the inherited %s", a.addr, addr)
	}
	if id := instanceOf(t, addr); id != logged(t, a) {
		t.Fatalf("answer from %q, want %q", id, logged(t, a))
	}
	b := launch(t, serverEnv(t, env), f)
	b.addr, b.admin = waitListening(t, b.logs, b.exited)
	// The harness's copy goes: from now on only the two servers hold the socket.
	f.Close()
	ln.Close()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case <-a.exited:
			done = true
		case <-deadline:
			t.Fatal("first server did not exit")
		default:
		}
		instanceOf(t, addr) // fails the test on a refused or reset connection
	}
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("first server exit %d, want 0", code)
	}
	if id := instanceOf(t, addr); id != logged(t, b) {
		t.Fatalf("after the handover the answer came from %q, want the second server %q", id, logged(t, b))
	}
}
