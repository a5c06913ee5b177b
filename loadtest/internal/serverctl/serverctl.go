// Package serverctl controls the server a bench runs against: a Local process the harness starts
// (and can signal, watch exit and kill), or an External one it only reaches over HTTP.
//
// A Local server gets ports the harness picked, a fresh random JWT secret and the environment
// the caller gives; its output is kept (the last lines) so a start-up failure or a crash can be
// reported with the server's own words.
package serverctl

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/lifeline"
)

// Config describes a server process to start.
type Config struct {
	Bin         string        // server binary; default "bin/server"
	DatabaseURL string        // DATABASE_URL, required
	JWTSecret   string        // JWT_SECRET; empty: a fresh random 32-byte secret (hex)
	Env         []string      // extra K=V, appended last so they override (BENCH_FAULTS, SHUTDOWN_TIMEOUT, ...)
	StartWait   time.Duration // how long to wait for /readyz; default 20s
	// Host is the IP the public listener binds (default 127.0.0.1): load generators in other
	// network namespaces reach the server there. The admin listener stays on loopback.
	Host     string
	LogLines int // output lines kept for reports; default 40
	// API is the public listener's host:port; empty: a free port of Host. A successor binds
	// its predecessor's (a restart, or SO_REUSEPORT beside it).
	API string
	// Listener, when set, is handed to the server as its API listener on fd 3 (LISTEN_FDS=1,
	// the systemd convention) instead of an address to bind: the caller keeps it and can hand
	// the same socket to a successor. API and Host are then ignored; the caller closes it.
	Listener *net.TCPListener
}

// Local is a server process the harness started.
type Local struct {
	cfg     Config // as started, defaults applied: a successor starts with the same
	appName string // application_name of its PostgreSQL sessions
	cmd     *exec.Cmd
	api     string
	admin   string
	secret  string
	bin     string
	logs    *tail
	ready   string // readiness URL ("" : none)

	done     chan struct{} // closed when the process has exited
	exitCode int
	exitErr  error
	exitedAt time.Time
}

// Start picks two free loopback ports, starts the server with them and waits until its
// /readyz answers 200. On failure the process is stopped and the error carries its last log
// lines. ctx bounds the start only; the process lives until Stop (or its own exit).
func Start(ctx context.Context, cfg Config) (*Local, error) {
	return startPicking(ctx, cfg, FreePorts)
}

// portTries bounds the starts that lose a picked port to another process.
const portTries = 3

// ErrPortTaken is the server exiting because a port picked for it was bound by someone else in
// the moment between the pick and the server's own bind.
var ErrPortTaken = errors.New("a port picked for it was taken before it could bind it")

// startPicking starts the server on ports from pick, and again on fresh ones when another
// process took one in between (a load generator's outgoing connection can be given any free
// ephemeral port): that is the harness's race, not the server's failure.
func startPicking(ctx context.Context, cfg Config, pick func(hosts ...string) ([]string, error)) (*Local, error) {
	if cfg.Bin == "" {
		cfg.Bin = "bin/server"
	}
	if cfg.StartWait <= 0 {
		cfg.StartWait = 20 * time.Second
	}
	if cfg.LogLines <= 0 {
		cfg.LogLines = 40
	}
	if cfg.DatabaseURL == "" {
		return nil, errors.New("start server: no database URL (set DATABASE_URL or -database-url)")
	}
	if cfg.JWTSecret == "" {
		s, err := NewSecret()
		if err != nil {
			return nil, err
		}
		cfg.JWTSecret = s
	}
	api := cfg.API
	if cfg.Listener != nil {
		api = cfg.Listener.Addr().String()
	}
	var err error
	for range portTries {
		var ports []string
		if ports, err = pick(cmp.Or(cfg.Host, "127.0.0.1"), "127.0.0.1"); err != nil {
			return nil, err
		}
		if api != "" {
			ports[0] = api
		}
		var l *Local
		if l, err = startOn(ctx, cfg, ports[0], ports[1]); !errors.Is(err, ErrPortTaken) {
			return l, err
		}
	}
	return nil, err
}

// Listen opens a listener on a free port of host for a server to inherit (Config.Listener).
func Listen(host string) (*net.TCPListener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(cmp.Or(host, "127.0.0.1"), "0"))
	if err != nil {
		return nil, fmt.Errorf("open a listener to hand over: %w", err)
	}
	return ln.(*net.TCPListener), nil
}

// Successor starts another server with l's settings (binary, database, secret, environment)
// whose API is l's address: bound anew (after l exits, or beside it with REUSEPORT=on), or,
// when ln is given, the socket ln inherited as fd 3. l is left running.
func (l *Local) Successor(ctx context.Context, ln *net.TCPListener) (*Local, error) {
	cfg := l.cfg
	cfg.API, cfg.Listener = strings.TrimPrefix(l.api, "http://"), ln
	return startPicking(ctx, cfg, FreePorts)
}

// startOn starts the server with its listeners on apiPort and adminPort and waits for /readyz.
func startOn(ctx context.Context, cfg Config, apiPort, adminPort string) (*Local, error) {
	// Each server gets its own application_name so that pg_stat_activity shows its queries and
	// no one else's: other servers, replicas or test packages on the same PostgreSQL (one of
	// them deliberately leaving queries running) must not count as this server's.
	suffix, err := NewSecret()
	if err != nil {
		return nil, err
	}
	appName := DefaultApplicationName + "-" + suffix[:12]
	dbURL, err := withApplicationName(cfg.DatabaseURL, appName)
	if err != nil {
		return nil, err
	}
	l := &Local{
		cfg:     cfg,
		appName: appName,
		api:     "http://" + apiPort,
		admin:   "http://" + adminPort,
		secret:  cfg.JWTSecret,
		bin:     cfg.Bin,
		logs:    newTail(cfg.LogLines),
		ready:   "http://" + adminPort + "/readyz",
		done:    make(chan struct{}),
	}
	// Not exec.CommandContext: the server must outlive the start context and be stopped by
	// signal (SIGTERM, then SIGKILL) rather than killed outright.
	cmd := exec.Command(cfg.Bin)
	cmd.Env = append(baseEnv(),
		"DATABASE_URL="+dbURL,
		"JWT_SECRET="+cfg.JWTSecret,
		"ADDR="+apiPort,
		"ADMIN_ADDR="+adminPort,
	)
	cmd.Env = append(cmd.Env, cfg.Env...)
	if cfg.Listener != nil {
		// File is a dup of the socket for the child; the harness's copy of it is closed once
		// the child has it, or every handover would leak a descriptor.
		f, err := cfg.Listener.File()
		if err != nil {
			return nil, fmt.Errorf("start server %s: hand over the listener: %w", cfg.Bin, err)
		}
		defer f.Close()
		cmd.ExtraFiles = []*os.File{f} // fd 3
		cmd.Env = append(cmd.Env, "LISTEN_FDS=1")
	}
	cmd.Stdout = l.logs
	cmd.Stderr = l.logs
	// Its own process group (a Ctrl-C at the terminal reaches the harness, which stops the
	// server in order), and killed by the kernel should the harness die without stopping it.
	waited, err := lifeline.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start server %s: %w", cfg.Bin, err)
	}
	l.cmd = cmd
	go l.wait(waited)

	if err := l.waitReady(ctx, cfg.StartWait); err != nil {
		_ = l.Stop(2 * time.Second)
		if l.exitCode > 0 && strings.Contains(l.LogTail(), "address already in use") {
			err = fmt.Errorf("%w: %w", ErrPortTaken, err)
		}
		return nil, fmt.Errorf("start server %s: %w\n%s", cfg.Bin, err, l.LogTail())
	}
	return l, nil
}

// baseEnv is the harness's environment without the settings it decides itself, so a stray
// OTEL_* or BENCH_* in the caller's shell cannot change what a scenario measures unseen.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "OTEL_") || strings.HasPrefix(k, "BENCH_") || k == "JWT_SECRET" ||
			k == "ADDR" || k == "ADMIN_ADDR" || k == "SHUTDOWN_TIMEOUT" || k == "DRAIN_DELAY" ||
			k == "LISTEN_FDS" || k == "LISTEN_PID" || k == "REUSEPORT" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (l *Local) wait(waited <-chan error) {
	err := <-waited
	l.exitedAt = time.Now()
	l.exitErr = err
	l.exitCode = l.cmd.ProcessState.ExitCode() // -1 when killed by a signal
	close(l.done)
}

func (l *Local) waitReady(ctx context.Context, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.admin+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-l.done:
			return fmt.Errorf("exited with code %d before it was ready", l.exitCode)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", wait, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// API returns the base URL of the public listener, e.g. http://127.0.0.1:41234.
func (l *Local) API() string { return l.api }

// Admin returns the base URL of the admin listener.
func (l *Local) Admin() string { return l.admin }

// DBApplication is the application_name of the server's PostgreSQL sessions.
func (l *Local) DBApplication() string { return l.appName }

// PID returns the process id.
func (l *Local) PID() int { return l.cmd.Process.Pid }

// Signal sends sig to the server process.
func (l *Local) Signal(sig os.Signal) error {
	if err := l.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal server pid %d: %w", l.PID(), err)
	}
	return nil
}

// Exited returns a channel closed when the process has exited.
func (l *Local) Exited() <-chan struct{} { return l.done }

// ExitCode returns the exit code once Exited is closed (−1 when a signal killed it).
func (l *Local) ExitCode() int {
	<-l.done
	return l.exitCode
}

// ExitedAt returns when the harness saw the process exit (zero before).
func (l *Local) ExitedAt() time.Time {
	select {
	case <-l.done:
		return l.exitedAt
	default:
		return time.Time{}
	}
}

// LogTail returns the server's last output lines, one string.
func (l *Local) LogTail() string { return l.logs.String() }

// Token mints a JWT for sub with the server's own `token` subcommand and this server's secret.
func (l *Local) Token(ctx context.Context, sub string) (string, error) {
	return Token(ctx, l.bin, l.secret, sub)
}

// Stop ends the process: SIGTERM, then SIGKILL when it has not exited after grace. It returns
// once the process is gone. Stopping an exited process is a no-op.
func (l *Local) Stop(grace time.Duration) error {
	select {
	case <-l.done:
		return nil
	default:
	}
	_ = l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.done:
		return nil
	case <-time.After(grace):
	}
	if err := l.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill server pid %d: %w", l.PID(), err)
	}
	<-l.done
	return nil
}

// Token runs `bin token -sub sub` with JWT_SECRET=secret and returns the JWT it prints.
func Token(ctx context.Context, bin, secret, sub string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, "token", "-sub", sub)
	cmd.Env = append(baseEnv(), "JWT_SECRET="+secret)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("mint token with %s token: %w: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	tok := strings.TrimSpace(string(out))
	if strings.Count(tok, ".") != 2 {
		return "", fmt.Errorf("mint token with %s token: output is not a JWT", bin)
	}
	return tok, nil
}

// NewSecret returns a fresh random JWT secret: 32 random bytes, hex encoded (64 bytes).
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new jwt secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// DefaultApplicationName is the application_name the items server sets on its PostgreSQL
// sessions unless DATABASE_URL names one (docs/contracts.md).
const DefaultApplicationName = "items-server"

// withApplicationName sets application_name in a PostgreSQL URL or keyword/value DSN.
func withApplicationName(dsn, name string) (string, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " application_name=" + name, nil // keyword/value: a later key wins
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", errors.New("start server: database URL does not parse") // never echo it: it may hold a password
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// FreePorts asks the kernel for a free port on each host. Each listener is held until all are
// picked, since a port just closed can be handed out again at once (two back-to-back picks
// returned the same port 2 times in 20000 here; CI once gave Jaeger's query API a port its
// config also gave to another of its listeners). They are released before the server binds them; another
// process could take one in between, which start-up then reports.
func FreePorts(hosts ...string) ([]string, error) {
	addrs := make([]string, len(hosts))
	for i, host := range hosts {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs, nil
}

// External is a server the harness did not start: it is reached over HTTP only.
type External struct {
	api, admin, ready, appName string
}

// NewExternal returns the server at api (public base URL) and admin (admin base URL), after
// checking that its /readyz answers 200 within wait.
func NewExternal(ctx context.Context, api, admin string, wait time.Duration) (*External, error) {
	api, admin = strings.TrimRight(api, "/"), strings.TrimRight(admin, "/")
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/readyz", nil)
		if err != nil {
			return nil, fmt.Errorf("reach target admin %s: %w", admin, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("/readyz status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("reach target admin %s: %w", admin, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return &External{api: api, admin: admin, ready: admin + "/readyz", appName: DefaultApplicationName}, nil
}

// NewExternalService returns any service at api (its base URL, every signal read there too)
// once it is ready within wait, as StartService tells it (readyPath, or the defaults). appName
// is the application_name of its PostgreSQL sessions ("" : none known).
func NewExternalService(ctx context.Context, api, readyPath, appName string, wait time.Duration) (*External, error) {
	api = strings.TrimRight(api, "/")
	ready, err := readiness{bases: []string{api}, path: readyPath}.wait(ctx, wait, nil)
	if err != nil {
		return nil, fmt.Errorf("reach target %s: %w", api, err)
	}
	return &External{api: api, admin: api, ready: ready, appName: appName}, nil
}

// API returns the public base URL.
func (e *External) API() string { return e.api }

// Admin returns the admin base URL.
func (e *External) Admin() string { return e.admin }

// DBApplication is the contract's default application_name: an external server's sessions
// cannot be told apart from other items servers on the same PostgreSQL.
func (e *External) DBApplication() string { return e.appName }

// ReadyURL is the readiness URL ("" : none known).
func (e *External) ReadyURL() string { return e.ready }

// tail is an io.Writer keeping the last n lines written to it.
type tail struct {
	mu      sync.Mutex
	n       int
	lines   []string
	partial []byte
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	consumed := bytes.LastIndexByte(t.partial, '\n') + 1
	if consumed == 0 {
		return len(p), nil
	}
	sc := bufio.NewScanner(bytes.NewReader(t.partial[:consumed]))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		t.lines = append(t.lines, sc.Text())
		if len(t.lines) > t.n {
			t.lines = t.lines[len(t.lines)-t.n:]
		}
	}
	t.partial = append(t.partial[:0], t.partial[consumed:]...)
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if len(t.partial) > 0 {
		lines = append(append([]string(nil), lines...), string(t.partial))
	}
	return strings.Join(lines, "\n")
}
