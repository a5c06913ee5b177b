package serverctl

import (
	"context"
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
