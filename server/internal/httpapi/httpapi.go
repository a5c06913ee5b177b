// Package httpapi is the items HTTP API: the routes (routes.go), the handlers, request decoding,
// the one mapping from errors to RFC 9457 problem responses (errors.go) and the middleware that
// names spans and labels metrics with chi's route pattern.
package httpapi

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/benchharness/benchharness/server/internal/auth"
	"github.com/benchharness/benchharness/server/internal/postgres"
)

// Faults are the test-only faults of docs/contracts.md; all off by default.
type Faults struct {
	// LeakGoroutine: every API request starts a goroutine that never returns.
	LeakGoroutine bool
	// IgnoreCancel: queries run on context.WithoutCancel, so a client that gives up does not
	// cancel them in PostgreSQL.
	IgnoreCancel bool
	// LockContention: every API request does lockHold of CPU work under one global mutex.
	LockContention bool
	// AllocStorm: every API request allocates stormNodes short-lived linked nodes, so that
	// the garbage collector takes much of the server's CPU.
	AllocStorm bool
	// SlowLeak: every API request keeps 4 KiB for good (memfaults.go).
	SlowLeak bool
	// TrickleLeak: every API request keeps 64 bytes for good, a leak only a long soak sees.
	TrickleLeak bool
	// Sawtooth: every API request keeps 4 KiB, all dropped every 256 requests (memfaults.go).
	Sawtooth bool
}

// Config is what NewHandler needs. Store, Verifier and Metrics are required.
type Config struct {
	Store    *postgres.Store
	Verifier *auth.Verifier
	Metrics  *Metrics
	// TracerProvider and Propagator default to no-op tracing (no trace ids in responses).
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// Logger defaults to discarding.
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies (default 1 MiB); larger bodies get 413.
	MaxBodyBytes int64
	// RequestTimeout is each request's deadline for its database work, from the moment its body
	// has been read (the pool wait included); past it the request answers 503 with
	// Retry-After. Default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// BenchDelay honours X-Bench-Delay (capped by MaxDelay below RequestTimeout) as a pg_sleep
	// in the query.
	BenchDelay bool
	// ExtraLatency is added to every API request (test-only regression injection).
	ExtraLatency time.Duration
	// ExtraCPU is CPU work done on every API request (test-only regression injection): a busy
	// loop in burnCPU, sized at start to take this long on an idle core, so that a loaded
	// machine slows it down as it would real work. 0 (default): none.
	ExtraCPU time.Duration
	Faults   Faults
}

// DefaultMaxBodyBytes is the body limit when Config.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 1 << 20

// DefaultRequestTimeout is the request deadline when Config.RequestTimeout is zero: longer than
// the harness's held requests (3 s at most by default), shorter than the default WRITE_TIMEOUT
// (10 s) so that the 503 can still be written.
const DefaultRequestTimeout = 8 * time.Second

// MaxDelay is the longest X-Bench-Delay honoured under a request deadline: the deadline less a
// second (less half of it when it is under two), so that a held request still has time for its
// real query and answers rather than timing out.
func MaxDelay(requestTimeout time.Duration) time.Duration {
	return requestTimeout - min(time.Second, requestTimeout/2)
}

type api struct {
	store        *postgres.Store
	verifier     *auth.Verifier
	metrics      *Metrics
	log          *slog.Logger
	maxBody      int64
	timeout      time.Duration // request deadline
	benchDelay   bool
	maxDelay     time.Duration // X-Bench-Delay cap
	extraLatency time.Duration
	burnIters    int // burnCPU iterations per request (BENCH_EXTRA_CPU); 0: none
	faults       Faults
	contend      *contention  // lock-contention and alloc-storm
	hoard        *memoryHoard // slow-leak or sawtooth; nil: neither
	bufs         sync.Pool    // *[]byte response buffers
}

// NewHandler returns the API: the server-span middleware outermost (traceRequests: it starts the
// span from any incoming traceparent), then the chi router.
func NewHandler(cfg Config) http.Handler {
	a := &api{
		store:        cfg.Store,
		verifier:     cfg.Verifier,
		metrics:      cfg.Metrics,
		log:          cfg.Logger,
		maxBody:      cfg.MaxBodyBytes,
		timeout:      cfg.RequestTimeout,
		benchDelay:   cfg.BenchDelay,
		extraLatency: cfg.ExtraLatency,
		burnIters:    burnItersFor(cfg.ExtraCPU),
		faults:       cfg.Faults,
		contend:      newContention(cfg.Faults),
		hoard:        newHoard(cfg.Faults),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBodyBytes
	}
	if a.timeout <= 0 {
		a.timeout = DefaultRequestTimeout
	}
	a.maxDelay = MaxDelay(a.timeout)
	if a.burnIters > 0 {
		// The fault's size in work, so that a run's log says what was injected.
		a.log.Info("BENCH_EXTRA_CPU calibrated", "extra_cpu", cfg.ExtraCPU, "iterations_per_request", a.burnIters)
	}
	return a.routes(cfg.TracerProvider, cfg.Propagator)
}
