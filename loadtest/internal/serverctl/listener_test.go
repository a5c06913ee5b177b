package serverctl

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// pidAt asks the API at base which process answered (the stand-in server's X-Pid).
func pidAt(t *testing.T, base string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(base + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", base, err)
	}
	resp.Body.Close()
	pid, _ := strconv.Atoi(resp.Header.Get("X-Pid"))
	return pid
}

// TestListenerHandover: a server started on a harness listener serves on it (fd 3); a successor
// given the same listener serves on the same address once the first is gone and the harness's
// copy is closed; and the harness holds no descriptor more than before, handover after handover.
func TestListenerHandover(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := Config{Bin: self, DatabaseURL: "postgres://x", Env: []string{"SERVERCTL_TEST_SERVER=1"}, StartWait: 10 * time.Second}
	before := openFDs(t)
	for range 3 {
		ln, err := Listen("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listener = ln
		old, err := Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if old.API() != "http://"+ln.Addr().String() || pidAt(t, old.API()) != old.PID() {
			t.Fatalf("first server at %s, want the listener's %s answering itself", old.API(), ln.Addr())
		}
		next, err := old.Successor(ctx, ln)
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		if err := old.Stop(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		if next.API() != old.API() || pidAt(t, next.API()) != next.PID() {
			t.Fatalf("successor at %s answered by another process, want %d at %s", next.API(), next.PID(), old.API())
		}
		if err := next.Stop(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// The transport's idle connections are gone with DisableKeepAlives; allow the runtime's own
	// descriptors (epoll, a pipe) a moment to settle.
	time.Sleep(100 * time.Millisecond)
	if after := openFDs(t); after > before {
		t.Fatalf("%d descriptors open after three handovers, %d before: the harness leaks its copies", after, before)
	}
}
