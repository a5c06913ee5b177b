package serverctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/lifeline"
)

// ServiceConfig describes any HTTP service the harness starts (loadtest run -server-cmd): a
// command line with {port} (and {admin_port}) where the free ports it picked go.
type ServiceConfig struct {
	Args []string // program and arguments (SplitCommand), placeholders unexpanded
	Env  []string // extra K=V after the harness's environment, placeholders unexpanded
	// ReadyPath is the readiness path, tried on the admin port (when {admin_port} is used)
	// and then on the API port; empty: the first of DefaultReadyPaths answering 2xx, or, when
	// every one answers 404, the first HTTP answer.
	ReadyPath string
	StartWait time.Duration // how long to wait for readiness; default 20s
	// AppName is the application_name of its PostgreSQL sessions, for pg_stat_activity; empty:
	// it has none the harness can tell apart.
	AppName  string
	LogLines int // output lines kept; default 40
	// Ready, when set, is asked instead of a readiness path (a service every path of which wants
	// credentials, or one that is not HTTP) until it returns nil; ReadyURL is then "".
	Ready func(ctx context.Context) error
	// AddrFromOutput: the service binds a port of its own choosing and prints its host:port as
	// the first line of its standard output; API and Admin are that address, and the service is
	// not ready before it prints it (then Ready, when set, is asked too).
	AddrFromOutput bool
}

// StartService picks free loopback ports for the placeholders, starts the command in a
// process group of its own and waits until it is ready. A failure is one line that ends with
// the service's last output line; the process is stopped by then. ctx bounds the start only.
func StartService(ctx context.Context, cfg ServiceConfig) (*Local, error) {
	if len(cfg.Args) == 0 {
		return nil, errors.New("start service: empty command")
	}
	if cfg.StartWait <= 0 {
		cfg.StartWait = 20 * time.Second
	}
	if cfg.LogLines <= 0 {
		cfg.LogLines = 40
	}
	var err error
	for range portTries {
		var l *Local
		if l, err = startService(ctx, cfg); !errors.Is(err, ErrPortTaken) {
			return l, err
		}
	}
	return nil, err
}

func startService(ctx context.Context, cfg ServiceConfig) (*Local, error) {
	hosts := []string{"127.0.0.1"}
	withAdmin := uses(AdminPortPlaceholder, cfg.Args...) || uses(AdminPortPlaceholder, cfg.Env...)
	if withAdmin {
		hosts = append(hosts, "127.0.0.1")
	}
	addrs, err := FreePorts(hosts...)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{PortPlaceholder: port(addrs[0])}
	l := &Local{appName: cfg.AppName, api: "http://" + addrs[0], admin: "http://" + addrs[0], bin: cfg.Args[0],
		logs: newTail(cfg.LogLines), done: make(chan struct{})}
	if withAdmin {
		vars[AdminPortPlaceholder] = port(addrs[1])
		l.admin = "http://" + addrs[1]
	}
	args := make([]string, len(cfg.Args))
	for i, a := range cfg.Args {
		args[i] = expand(a, vars)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = baseEnv()
	for _, kv := range cfg.Env {
		cmd.Env = append(cmd.Env, expand(kv, vars))
	}
	cmd.Stdout, cmd.Stderr = l.logs, l.logs
	var first *firstLine
	if cfg.AddrFromOutput {
		first = &firstLine{done: make(chan struct{})}
		cmd.Stdout = io.MultiWriter(l.logs, first)
	}
	// Through lifeline, as the items server: its own process group (a Ctrl-C reaches the
	// harness, which stops the service in order) and dead with the harness.
	waited, err := lifeline.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Args[0], err)
	}
	l.cmd = cmd
	go l.wait(waited)
	bases := []string{l.api}
	if withAdmin {
		bases = []string{l.admin, l.api}
	}
	if cfg.Ready != nil || first != nil {
		err = l.waitFor(ctx, cfg.StartWait, first, cfg.Ready)
	} else {
		l.ready, err = readiness{bases: bases, path: cfg.ReadyPath}.wait(ctx, cfg.StartWait, l.done)
	}
	if err == nil {
		return l, nil
	}
	_ = l.Stop(2 * time.Second)
	if errors.Is(err, errExited) {
		err = fmt.Errorf("exited with code %d before it was ready", l.exitCode)
		if strings.Contains(l.LogTail(), "address already in use") {
			err = fmt.Errorf("%w: %w", ErrPortTaken, err)
		}
	}
	msg := fmt.Sprintf("start %s: %v", cfg.Args[0], err)
	if last := lastLine(l.LogTail()); last != "" {
		msg += "; last output line: " + last
	} else {
		msg += "; it printed nothing"
	}
	return nil, wrapMsg{msg: msg, err: err}
}

// waitFor waits, until wait passes or the process exits, for the address line (first; nil: none
// asked for), then until ready (nil: none) returns nil.
func (l *Local) waitFor(ctx context.Context, wait time.Duration, first *firstLine, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if first != nil {
		select {
		case <-first.done:
			if _, _, err := net.SplitHostPort(first.line); err != nil {
				return fmt.Errorf("its first output line %q is not host:port", first.line)
			}
			l.api = "http://" + first.line
			l.admin = l.api
		case <-l.done:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("printed no address within %s: %w", wait, ctx.Err())
		}
	}
	if ready == nil {
		return nil
	}
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-l.done:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s (%v)", wait, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// firstLine is an io.Writer that keeps the first full line written to it, trimmed.
type firstLine struct {
	mu   sync.Mutex
	buf  []byte
	line string
	done chan struct{} // closed once line is set
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.done:
		return len(p), nil
	default:
	}
	f.buf = append(f.buf, p...)
	if i := bytes.IndexByte(f.buf, '\n'); i >= 0 {
		f.line, f.buf = strings.TrimSpace(string(f.buf[:i])), nil
		close(f.done)
	}
	return len(p), nil
}

// wrapMsg is an error with a message of its own that still unwraps to its cause.
type wrapMsg struct {
	msg string
	err error
}

func (w wrapMsg) Error() string { return w.msg }
func (w wrapMsg) Unwrap() error { return w.err }

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// ReadyURL is the readiness URL the service answered 2xx on when it started ("" when it has
// none): the shutdown scenario watches it flip.
func (l *Local) ReadyURL() string { return l.ready }
