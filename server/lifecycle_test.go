package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/benchharness/benchharness/server/internal/apitest"
	"github.com/benchharness/benchharness/server/internal/auth"
	"github.com/benchharness/benchharness/server/internal/dbtest"
)

// logLines collects the server's JSON log lines as they arrive.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   []string
}

func (l *logLines) Write(p []byte) (int, error) { // io.Writer for run(); one slog record per Write
	l.add(string(p))
	return len(p), nil
}

func (l *logLines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		l.raw = append(l.raw, line)
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			l.lines = append(l.lines, m)
		}
	}
}

// find returns the first line whose msg is msg, and its index.
func (l *logLines) find(msg string) (map[string]any, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, m := range l.lines {
		if m["msg"] == msg {
			return m, i
		}
	}
	return nil, -1
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.raw, "\n")
}

// waitListening returns the API and admin addresses from the "listening" line.
func waitListening(t *testing.T, logs *logLines, exited <-chan struct{}) (addr, admin string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if m, _ := logs.find("listening"); m != nil {
			return m["addr"].(string), m["admin_addr"].(string)
		}
		select {
		case <-exited:
			t.Fatalf("server exited before listening; logs:\n%s", logs)
		case <-deadline:
			t.Fatalf("server not listening after 60s; logs:\n%s", logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func httpStatus(url string, header ...string) int {
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func serverEnv(t *testing.T, extra map[string]string) map[string]string {
	e := map[string]string{
		"DATABASE_URL": dbtest.NewURL(t),
		"JWT_SECRET":   testSecret,
		"ADDR":         "127.0.0.1:0",
		"ADMIN_ADDR":   "127.0.0.1:0",
		"BENCH_DELAY":  "on",
	}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

func bearer(t *testing.T) string {
	tok, err := auth.Mint([]byte(testSecret), "", "test", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// TestRunEndToEnd calls run() as main does, waits for /readyz, uses the API, then cancels the
// context (as a signal would) and checks the clean exit and that every goroutine was joined.
func TestRunEndToEnd(t *testing.T) {
	e := serverEnv(t, nil)
	ignore := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &logLines{}
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		done <- run(ctx, []string{"server"}, env(e), logs, io.Discard)
		close(exited)
	}()
	addr, admin := waitListening(t, logs, exited)
	apitest.Eventually(t, 10*time.Second, func() bool { return httpStatus("http://"+admin+"/readyz") == 200 }, "/readyz never 200")

	client := &http.Client{}
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/item", strings.NewReader(`{"name":"e2e"}`))
	req.Header.Set("Authorization", bearer(t))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.Header.Get("traceresponse") == "" {
		t.Fatalf("POST: %d traceresponse %q", resp.StatusCode, resp.Header.Get("traceresponse"))
	}
	if s := httpStatus("http://"+addr+"/api/v1/items", "Authorization", bearer(t)); s != 200 {
		t.Fatalf("GET items: %d", s)
	}
	for _, p := range []string{"/healthz", "/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/metrics"} {
		if s := httpStatus("http://" + admin + p); s != 200 {
			t.Fatalf("admin %s: %d", p, s)
		}
	}
	metrics := get(t, "http://"+admin+"/metrics")
	for _, want := range []string{
		`server_state{state="ready"} 1`,
		`http_server_request_duration_seconds_count{method="POST",route="/api/v1/item",status="201"} 1`,
		`http_server_requests_in_flight 0`,
		`pgxpool_max_conns 8`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
		`server_build_info{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	client.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	if _, i := logs.find("shutdown complete"); i < 0 {
		t.Fatalf("no 'shutdown complete' log line:\n%s", logs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for err := goleak.Find(ignore); err != nil; err = goleak.Find(ignore) {
		// goleak retries for ~2 s itself; a loaded machine may need longer.
		if time.Now().After(deadline) {
			t.Fatalf("run left goroutines behind: %v", err)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// serverBinary builds the real binary once per test run.
func serverBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "server-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "server")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

type process struct {
	cmd    *exec.Cmd
	logs   *logLines
	stderr *strings.Builder
	exited chan struct{}
	addr   string
	admin  string
}

// start runs the real binary with e as its whole environment (plus PATH) and waits for its
// "listening" line.
func start(t *testing.T, e map[string]string) *process {
	t.Helper()
	p := launch(t, e)
	p.addr, p.admin = waitListening(t, p.logs, p.exited)
	return p
}

// launch runs the real binary with e as its whole environment (plus PATH) and files as its
// descriptors 3, 4, ...; it does not wait.
func launch(t *testing.T, e map[string]string, files ...*os.File) *process {
	t.Helper()
	cmd := exec.Command(serverBinary(t))
	cmd.ExtraFiles = files
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: &logLines{}, stderr: &strings.Builder{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.logs.add(sc.Text())
		}
		close(scanned)
	}()
	go func() {
		<-scanned
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not exit; logs:\n%s", p.logs)
	}
	return p.cmd.ProcessState.ExitCode()
}

// delayed sends a GET held in PostgreSQL for delay; the result arrives on the channel.
func delayed(t *testing.T, addr, delay string) <-chan error {
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/items", nil)
	req.Header.Set("Authorization", bearer(t))
	req.Header.Set("X-Bench-Delay", delay)
	res := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			res <- err
			return
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			res <- err
			return
		}
		if resp.StatusCode != 200 {
			res <- fmt.Errorf("status %d", resp.StatusCode)
			return
		}
		res <- nil
	}()
	return res
}

func waitInFlight(t *testing.T, admin string, n int) {
	t.Helper()
	want := fmt.Sprintf("http_server_requests_in_flight %d\n", n)
	apitest.Eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get("http://" + admin + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), want)
	}, "in-flight never %d", n)
}

// TestSlowRequestsDoNotStall: the real binary with its default settings and BENCH_DELAY=on, as
// compose and k8s ship it. Eight requests asking for X-Bench-Delay: 30s hold the whole default
// pool; another request gets 503 with Retry-After after the pool wait (DB_ACQUIRE_TIMEOUT, 1 s),
// not after 30 s, and the held ones answer 200 once their delay, capped below the request
// deadline (REQUEST_TIMEOUT, 8 s), is over.
func TestSlowRequestsDoNotStall(t *testing.T) {
	p := start(t, serverEnv(t, nil))
	held := make([]<-chan error, 8)
	for i := range held {
		held[i] = delayed(t, p.addr, "30s")
	}
	apitest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(get(t, "http://"+p.admin+"/metrics"), "pgxpool_acquired_conns 8\n")
	}, "the held requests never took the whole pool")

	req, _ := http.NewRequest("GET", "http://"+p.addr+"/api/v1/items", nil)
	req.Header.Set("Authorization", bearer(t))
	begin := time.Now()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET while the pool is held: %v after %s; want a 503 after the 1 s pool wait", err, time.Since(begin))
	}
	resp.Body.Close()
	if el := time.Since(begin); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || el > 3*time.Second {
		t.Fatalf("GET while the pool is held: %d Retry-After %q after %s; want 503 with Retry-After within the pool wait",
			resp.StatusCode, resp.Header.Get("Retry-After"), el)
	}
	for _, h := range held {
		if err := <-h; err != nil {
			t.Fatalf("held request: %v; want 200 (its delay is capped below the request deadline)", err)
		}
	}
}

// TestSIGTERMDrain: through the real binary and a real SIGTERM, /readyz flips to 503 first
// (while the API still accepts during DRAIN_DELAY), then new connections are refused while the
// delayed request is still in flight, the request completes with 200, the pool is closed after
// the API drained, the admin listener closes last, and the exit code is 0.
func TestSIGTERMDrain(t *testing.T) {
	p := start(t, serverEnv(t, map[string]string{"DRAIN_DELAY": "500ms", "SHUTDOWN_TIMEOUT": "30s"}))
	res := delayed(t, p.addr, "4s")
	waitInFlight(t, p.admin, 1)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	apitest.Eventually(t, 5*time.Second, func() bool { return httpStatus("http://"+p.admin+"/readyz") == 503 }, "/readyz never 503")
	if m := get(t, "http://"+p.admin+"/metrics"); !strings.Contains(m, `server_state{state="draining"} 1`) {
		t.Fatalf("admin /metrics during the drain lacks server_state draining")
	}
	apitest.Eventually(t, 5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return false
		}
		return true
	}, "the API still accepts connections after the drain delay")
	select {
	case err := <-res:
		t.Fatalf("the delayed request ended (%v) before new connections were refused: make it longer", err)
	default:
	}
	if err := <-res; err != nil {
		t.Fatalf("in-flight request during the drain: %v", err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr %q", code, p.stderr.String())
	}
	order := []string{"draining: /readyz now 503", "drain delay over", "API drained", "database pool closed", "telemetry flushed", "admin listener closed", "shutdown complete"}
	last := -1
	for _, msg := range order {
		m, i := p.logs.find(msg)
		if i <= last {
			t.Fatalf("log %q at %d, want after %d (order %q); logs:\n%s", msg, i, last, order, p.logs)
		}
		if msg != "draining: /readyz now 503" && msg != "shutdown complete" && m["duration"] == nil {
			t.Errorf("log %q has no duration", msg)
		}
		last = i
	}
	if m, _ := p.logs.find("API drained"); m["forced"] != false {
		t.Fatalf("API drained forced=%v, want false", m["forced"])
	}
}

// TestShutdownReadsAcceptedRequests: a connection accepted before the listener closed whose
// request arrives only once the drain has begun is answered, not dropped (net/http's Shutdown
// discards a request it reads after it began: EOF to the client).
func TestShutdownReadsAcceptedRequests(t *testing.T) {
	p := start(t, serverEnv(t, map[string]string{"DRAIN_DELAY": "300ms", "SHUTDOWN_TIMEOUT": "10s"}))
	c, err := net.DialTimeout("tcp", p.addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(100 * time.Millisecond) // accepted: the server holds it, waiting for its request
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	apitest.Eventually(t, 5*time.Second, func() bool {
		d, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			d.Close()
			return false
		}
		return true
	}, "the API still accepts connections after the drain delay")
	time.Sleep(100 * time.Millisecond) // the drain is under way
	if _, err := io.WriteString(c, "GET /api/v1/items HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatalf("write the request: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 ") {
		t.Fatalf("a request on a connection accepted before the close, sent during the drain: got %q (%v), want an answer", line, err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr %q", code, p.stderr.String())
	}
}

// TestIdleConnectionServedDuringDrainDelay: a keep-alive connection idle at SIGTERM stays open
// through DRAIN_DELAY, and its next request is answered with "Connection: close". Closing the
// idle connections at the signal (http.Server.SetKeepAlivesEnabled(false)) races with a request
// already on its way: its handler runs on the closed socket and the answer is lost.
func TestIdleConnectionServedDuringDrainDelay(t *testing.T) {
	p := start(t, serverEnv(t, map[string]string{"DRAIN_DELAY": "1s", "SHUTDOWN_TIMEOUT": "10s"}))
	c, err := net.DialTimeout("tcp", p.addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	auth := bearer(t)
	ask := func() (*http.Response, error) {
		req := "GET /api/v1/items HTTP/1.1\r\nHost: test\r\nAuthorization: " + auth + "\r\n\r\n"
		if _, err := io.WriteString(c, req); err != nil {
			return nil, fmt.Errorf("write the request: %w", err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, err
	}
	if resp, err := ask(); err != nil || resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first request: %v %v (close %v), want 200 on a kept-alive connection", resp, err, resp != nil && resp.Close)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	apitest.Eventually(t, 5*time.Second, func() bool { return httpStatus("http://"+p.admin+"/readyz") == 503 }, "/readyz never 503")
	resp, err := ask()
	if err != nil || resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("request on a connection idle at SIGTERM, sent during the drain delay: %v (%v); want 200 with Connection: close", resp, err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr %q", code, p.stderr.String())
	}
}

// TestSIGTERMForced: a drain timeout shorter than the request gives the forced path: the
// request is cut off, its query is cancelled in PostgreSQL, and the exit code is 3.
func TestSIGTERMForced(t *testing.T) {
	e := serverEnv(t, map[string]string{"SHUTDOWN_TIMEOUT": "300ms"})
	p := start(t, e)
	res := delayed(t, p.addr, "20s")
	waitInFlight(t, p.admin, 1)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 3 {
		t.Fatalf("exit code %d, want 3; logs:\n%s", code, p.logs)
	}
	if err := <-res; err == nil {
		t.Fatal("the request outliving SHUTDOWN_TIMEOUT succeeded; want it cut off")
	}
	if m, _ := p.logs.find("API drained"); m == nil || m["forced"] != true {
		t.Fatalf("no forced drain logged:\n%s", p.logs)
	}
	if !strings.Contains(p.stderr.String(), "forced") || strings.Count(strings.TrimSpace(p.stderr.String()), "\n") != 0 {
		t.Fatalf("stderr %q: want one line about the forced shutdown", p.stderr.String())
	}
	// The pool was closed after the cut-off: nothing of the server remains in PostgreSQL.
	var n int
	conn := dbtest.NewPool(t) // any pool on the same server can read pg_stat_activity
	apitest.Eventually(t, 5*time.Second, func() bool {
		err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
			dbName(e["DATABASE_URL"])).Scan(&n)
		return err == nil && n == 0
	}, "%d server connections left in pg_stat_activity after exit", n)
}

func dbName(url string) string {
	s := url[strings.LastIndex(url, "/")+1:]
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	return s
}

// TestBinaryBadSetting: the real binary exits 2 with one line naming the setting.
func TestBinaryBadSetting(t *testing.T) {
	cmd := exec.Command(serverBinary(t))
	cmd.Env = []string{"DATABASE_URL=postgres://u@127.0.0.1/db", "JWT_SECRET=" + testSecret, "SHUTDOWN_TIMEOUT=ten"}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2", err)
	}
	if s := strings.TrimSpace(string(out)); strings.Contains(s, "\n") || !strings.Contains(s, "SHUTDOWN_TIMEOUT") {
		t.Fatalf("output %q: want one line naming SHUTDOWN_TIMEOUT", s)
	}
}

// TestFaultWarnings: every fault that is on says so at start with a WARN naming it, and none is
// logged when they are off (an operator must never run a misbehaving server unknowingly).
func TestFaultWarnings(t *testing.T) {
	warnings := map[string]string{
		"BENCH_EXTRA_CPU":     "fault enabled: extra CPU work on every API request",
		"BENCH_EXTRA_LATENCY": "fault enabled: extra latency on every API request",
		"leak-goroutine":      "fault enabled: the server misbehaves on purpose",
	}
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("on=%v", on), func(t *testing.T) {
			extra := map[string]string{}
			if on {
				extra = map[string]string{"BENCH_EXTRA_CPU": "1ms", "BENCH_EXTRA_LATENCY": "1ms", "BENCH_FAULTS": "leak-goroutine"}
			}
			p := start(t, serverEnv(t, extra))
			for fault, msg := range warnings {
				m, _ := p.logs.find(msg)
				if got := m != nil && m["level"] == "WARN" && m["fault"] == fault; got != on {
					t.Errorf("WARN %q naming %s logged: %v, want %v; logs:\n%s", msg, fault, got, on, p.logs)
				}
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(t); code != 0 {
				t.Fatalf("exit code %d, want 0", code)
			}
		})
	}
}
