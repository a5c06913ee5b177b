package serverctl

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets this test binary stand in for a server process when asked to: it binds ADDR
// and ADMIN_ADDR as the items server does, so a start that loses a port meets the real
// "address already in use" of a real bind.
func TestMain(m *testing.M) {
	if os.Getenv("SERVERCTL_TEST_SERVER") == "1" {
		if err := serveReady(os.Getenv("ADDR"), os.Getenv("ADMIN_ADDR")); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveReady binds both addresses, answers /readyz with 200 on the admin one and returns
// on SIGTERM.
// With LISTEN_FDS=1 the API listener is the one inherited on fd 3; the API answers with the
// process id in X-Pid.
func serveReady(api, admin string) error {
	var apiLn net.Listener
	var err error
	if os.Getenv("LISTEN_FDS") == "1" {
		apiLn, err = net.FileListener(os.NewFile(3, "fd3"))
	} else {
		apiLn, err = net.Listen("tcp", api)
	}
	if err != nil {
		return err
	}
	defer apiLn.Close()
	go func() {
		_ = http.Serve(apiLn, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Pid", strconv.Itoa(os.Getpid()))
		}))
	}()
	adminLn, err := net.Listen("tcp", admin)
	if err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	go func() { _ = http.Serve(adminLn, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})) }()
	<-stop
	return adminLn.Close()
}

// TestStartRetriesATakenPort: a port taken between the pick and the server's bind costs a
// fresh pick, not the run; a start that fails for any other reason is not tried again.
func TestStartRetriesATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	// Whoever holds the port is not ready: the start must not take it for the server.
	go func() {
		_ = http.Serve(taken, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	}()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		bin       string
		takenFor  int // picks that hand out the taken port
		wantPicks int
		wantErr   error // nil: started
	}{
		{"admin port taken once", self, 1, 2, nil},
		{"taken every time", self, portTries, portTries, ErrPortTaken},
		{"exits for another reason", "/bin/false", 1, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			picks := 0
			pick := func(hosts ...string) ([]string, error) {
				picks++
				addrs, err := FreePorts(hosts...)
				if err == nil && picks <= tt.takenFor {
					addrs[1] = taken.Addr().String()
				}
				return addrs, err
			}
			l, err := startPicking(context.Background(), Config{Bin: tt.bin, DatabaseURL: "postgres://x",
				Env: []string{"SERVERCTL_TEST_SERVER=1"}, StartWait: 10 * time.Second}, pick)
			if l != nil {
				defer l.Stop(time.Second)
			}
			switch {
			case picks != tt.wantPicks:
				t.Errorf("%d picks, want %d (err %v)", picks, tt.wantPicks, err)
			case tt.bin == "/bin/false":
				if err == nil || errors.Is(err, ErrPortTaken) || !strings.Contains(err.Error(), "exited with code 1") {
					t.Errorf("start = %v; want exited with code 1, not a taken port", err)
				}
			case !errors.Is(err, tt.wantErr):
				t.Errorf("start = %v, want %v", err, tt.wantErr)
			case err == nil && l.Admin() == "http://"+taken.Addr().String():
				t.Errorf("started on the taken port %s", l.Admin())
			}
		})
	}
}
