package serverctl

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// TestStartService: {port} and {admin_port} in the environment become two free ports, the admin
// one is tried first for readiness, and a command that fails says so in one line with its last
// output line.
func TestStartService(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l, err := StartService(context.Background(), ServiceConfig{Args: []string{self},
		Env: []string{"SERVERCTL_TEST_SERVER=1", "ADDR=127.0.0.1:{port}", "ADMIN_ADDR=127.0.0.1:{admin_port}"}, StartWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if l.API() == l.Admin() || l.ReadyURL() != l.Admin()+"/readyz" {
		t.Errorf("api %s, admin %s, ready %s: want two ports and the admin one's /readyz", l.API(), l.Admin(), l.ReadyURL())
	}
	if err := l.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}

	_, err = StartService(context.Background(), ServiceConfig{Args: []string{"sh", "-c", "echo listening on $0; echo bad config >&2; exit 4", "{port}"}})
	if err == nil || strings.Contains(err.Error(), "\n") ||
		!strings.Contains(err.Error(), "exited with code 4 before it was ready; last output line: bad config") {
		t.Errorf("failing command: %v; want one line with its exit code and last output line", err)
	}
}

// TestStartServiceReadyOf: a service that prints its address is reached there once it has
// printed it, and a Ready check replaces the readiness path; each fails with what it waited for.
func TestStartServiceReadyOf(t *testing.T) {
	calls := 0
	readyThird := func(context.Context) error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}
	never := func(context.Context) error { return errors.New("still starting") }
	tests := []struct {
		name    string
		cfg     ServiceConfig
		api     string // want API(); "" : not checked
		wantErr string // "" : starts
	}{
		{"address from output", ServiceConfig{Args: []string{"sh", "-c", "echo 127.0.0.1:4567; exec sleep 30"}, AddrFromOutput: true},
			"http://127.0.0.1:4567", ""},
		{"address then ready", ServiceConfig{Args: []string{"sh", "-c", "echo warming >&2; echo 127.0.0.1:4568; exec sleep 30"}, AddrFromOutput: true, Ready: readyThird},
			"http://127.0.0.1:4568", ""},
		{"exits before its address", ServiceConfig{Args: []string{"sh", "-c", "echo no port >&2; exit 3"}, AddrFromOutput: true},
			"", "exited with code 3 before it was ready; last output line: no port"},
		{"prints something else first", ServiceConfig{Args: []string{"sh", "-c", "echo starting up; exec sleep 30"}, AddrFromOutput: true},
			"", `its first output line "starting up" is not host:port`},
		{"prints no address", ServiceConfig{Args: []string{"sh", "-c", "exec sleep 30"}, AddrFromOutput: true, StartWait: 300 * time.Millisecond},
			"", "printed no address within 300ms"},
		{"never ready", ServiceConfig{Args: []string{"sh", "-c", "exec sleep 30"}, Ready: never, StartWait: 300 * time.Millisecond},
			"", "not ready after 300ms (still starting)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := StartService(context.Background(), tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.Stop(5 * time.Second)
			if l.API() != tt.api || l.Admin() != tt.api || l.ReadyURL() != "" {
				t.Errorf("api %s, admin %s, ready %q: want %s twice and no readiness URL", l.API(), l.Admin(), l.ReadyURL(), tt.api)
			}
		})
	}
	if calls != 3 {
		t.Errorf("Ready asked %d times, want 3 (until it said yes)", calls)
	}
}
