package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenFDsStart is the first inherited descriptor of the systemd socket-activation convention
// (sd_listen_fds(3)): LISTEN_FDS=n means descriptors 3 … 3+n−1 are open listening sockets.
const listenFDsStart = 3

// apiListener returns the API listener: the one inherited on fd 3 when LISTEN_FDS=1 (and
// LISTEN_PID, when set, is this process), else a new one on ADDR, with SO_REUSEPORT when
// REUSEPORT=on. inherited says which.
//
// An inherited listener is how a deploy hands the port over without a moment in which it is
// closed: the supervisor (systemd, or the harness) keeps the socket and gives it to the old
// and the new process in turn, so connections queue in the one accept queue while either
// runs. LISTEN_FDS needs nothing of the old process, unlike an upgrade that passes the fd over
// a Unix socket (tableflip), which the old process must take part in.
func apiListener(cfg config, pid int) (ln net.Listener, inherited bool, err error) {
	if cfg.ListenFDs == 1 && (cfg.ListenPID == 0 || cfg.ListenPID == pid) {
		f := os.NewFile(listenFDsStart, "LISTEN_FDS_3")
		if f == nil {
			return nil, false, fmt.Errorf("inherited listener: fd %d is not open", listenFDsStart)
		}
		defer f.Close() // FileListener dups it; this copy would only leak
		ln, err := net.FileListener(f)
		if err != nil {
			return nil, false, fmt.Errorf("inherited listener on fd %d (LISTEN_FDS=1): %w", listenFDsStart, err)
		}
		if _, ok := ln.(*net.TCPListener); !ok {
			ln.Close()
			return nil, false, fmt.Errorf("inherited listener on fd %d (LISTEN_FDS=1) is not TCP", listenFDsStart)
		}
		return ln, true, nil
	}
	var lc net.ListenConfig
	if cfg.ReusePort {
		lc.Control = reusePort
	}
	ln, err = lc.Listen(context.Background(), "tcp", cfg.Addr)
	if err != nil {
		return nil, false, fmt.Errorf("listen on ADDR: %w", err)
	}
	return ln, false, nil
}

// reusePort sets SO_REUSEPORT before bind: a second process with it set may bind the same port
// while the first still listens, and the kernel spreads new connections over both.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set SO_REUSEPORT: %w", serr)
	}
	return nil
}

// InstanceHeader names the process that answered: a random id per process, so that a client
// of a deploy (two processes on one port) can tell which one served each request.
const InstanceHeader = "X-Instance-Id"

// newInstanceID returns 8 random bytes, hex encoded.
func newInstanceID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new instance id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// withInstance sets InstanceHeader on every response, before the handler writes (and so on
// the 401s, 404s and 503s too).
func withInstance(id string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(InstanceHeader, id)
		next.ServeHTTP(w, r)
	})
}

// listenEnv reads LISTEN_FDS and LISTEN_PID (sd_listen_fds(3)); only one listener is taken.
func (p *parser) listenEnv(c *config) {
	if v := p.getenv("LISTEN_FDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n != 1 {
			p.fail("LISTEN_FDS", "%q: want 1 (one inherited API listener on fd 3) or unset", v)
			return
		}
		c.ListenFDs = n
	}
	if v := p.getenv("LISTEN_PID"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			p.fail("LISTEN_PID", "%q: want a process id", v)
			return
		}
		c.ListenPID = n
	}
}
