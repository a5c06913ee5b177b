// Command notes is a small in-memory notes service, written apart from server/ to show that
// `loadtest run -server-cmd` judges any Go HTTP service: a standard library mux, a slow
// endpoint of its own (GET /export?wait=1s), a readiness endpoint that turns 503 on SIGTERM, its
// own graceful shutdown, and the request counts of the importable httpcount middleware on
// /metrics. Its -fault flag makes the two broken variants the harness's tests
// need: no-drain (closes on SIGTERM without Shutdown) and ignore-ctx (the slow handler ignores
// its request's context).
//
//	go run ./examples/notes -addr 127.0.0.1:8081
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/benchharness/benchharness/httpcount"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "notes:", err)
		os.Exit(1)
	}
}

// config is the service's flags.
type config struct {
	addr            string
	drainDelay      time.Duration // readiness 503 before the listener closes, for load balancers
	shutdownTimeout time.Duration // how long in-flight requests get after SIGTERM
	fault           string        // "", "no-drain" or "ignore-ctx"
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("notes", flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8081", "listen address")
	fs.DurationVar(&cfg.drainDelay, "drain-delay", 300*time.Millisecond, "time /readyz answers 503 before the listener closes")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 5*time.Second, "time in-flight requests get after SIGTERM")
	fs.StringVar(&cfg.fault, "fault", "", "a deliberate bug: no-drain (close on SIGTERM) or ignore-ctx (the slow handler ignores its context)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch cfg.fault {
	case "", "no-drain", "ignore-ctx":
	default:
		return fmt.Errorf("unknown -fault %q (want no-drain or ignore-ctx)", cfg.fault)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()

	svc := &service{ignoreCtx: cfg.fault == "ignore-ctx", counts: httpcount.New()}
	svc.ready.Store(true)
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: svc.counts.Middleware(svc.routes()), ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "notes: listening on %s\n", ln.Addr())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Shutdown order: not ready (load balancers stop sending), wait for them to notice, stop
	// accepting and let the requests in flight finish, then exit.
	svc.ready.Store(false)
	fmt.Fprintln(stdout, "notes: draining")
	time.Sleep(cfg.drainDelay)
	if cfg.fault == "no-drain" {
		err := srv.Close() // the bug: every request in flight is cut
		<-serveErr
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(stdout, "notes: stopped")
	return nil
}

// service holds the notes in memory.
type service struct {
	ignoreCtx bool
	counts    *httpcount.Counter
	ready     atomic.Bool

	mu    sync.Mutex
	notes []note
}

type note struct {
	ID   int    `json:"id"`
	Text string `json:"text"`
}

// routes is the whole API; pprof is registered by hand on this mux, never on the default one.
func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /notes", s.list)
	mux.HandleFunc("POST /notes", s.create)
	mux.HandleFunc("GET /export", s.export)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.Handle("GET /metrics", s.counts.Handler())
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

func (s *service) list(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	n := len(s.notes)
	page := append([]note(nil), s.notes[max(0, n-20):]...)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(page)
}

func (s *service) create(w http.ResponseWriter, r *http.Request) {
	var n note
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&n); err != nil || n.Text == "" {
		http.Error(w, `want {"text":"..."}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	n.ID = len(s.notes) + 1
	s.notes = append(s.notes, n)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(n)
}

// export is the slow endpoint: it takes ?wait= (a Go duration, at most a minute) to build its
// answer, and gives up when the client does.
func (s *service) export(w http.ResponseWriter, r *http.Request) {
	wait, err := time.ParseDuration(r.URL.Query().Get("wait"))
	if err != nil || wait < 0 || wait > time.Minute {
		http.Error(w, "want ?wait=DURATION (at most 1m)", http.StatusBadRequest)
		return
	}
	if s.ignoreCtx {
		time.Sleep(wait) // the bug: a client that gave up still costs the whole wait
	} else {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	n := len(s.notes)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintln(w, "notes: "+strconv.Itoa(n))
}
