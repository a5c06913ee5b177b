package main

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/benchharness/benchharness/server/internal/auth"
	"github.com/benchharness/benchharness/server/internal/httpapi"
	"github.com/benchharness/benchharness/server/internal/postgres"
)

// config is the server's settings, read from the environment (defaults: docs/contracts.md).
type config struct {
	DatabaseURL string
	DBMaxConns  int32 // DB_MAX_CONNS: the pool's size; 0 (unset) takes the URL's pool_max_conns, else 8
	DBMinConns  int32 // DB_MIN_CONNS: connections opened at start and kept; 0 (unset): the URL's pool_min_conns, else none
	JWTSecret   []byte
	JWTIssuer   string

	Addr      string // API listener, default :8080
	AdminAddr string // admin listener, default 127.0.0.1:6060
	// ReusePort (REUSEPORT=on, default off) sets SO_REUSEPORT on the API listener, so a
	// successor can bind ADDR while this process still listens.
	ReusePort bool
	// ListenFDs (LISTEN_FDS, 1 or unset) and ListenPID (LISTEN_PID, 0: unset): the API
	// listener is inherited on fd 3 instead of bound on ADDR (systemd's convention); a
	// LISTEN_PID naming another process means the fd is not this one's.
	ListenFDs, ListenPID int

	ShutdownTimeout time.Duration // Shutdown's wait for in-flight requests before Close, default 10s
	DrainDelay      time.Duration // between /readyz→503 and Shutdown, default 0

	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration // 5s, 10s, 10s, 10s

	// RequestTimeout (REQUEST_TIMEOUT, default 8s) is a request's deadline for its database
	// work, and PostgreSQL's statement_timeout; it must be shorter than WriteTimeout, or the
	// 503 it leads to could not be written.
	RequestTimeout time.Duration
	// AcquireTimeout (DB_ACQUIRE_TIMEOUT, default 1s, at most RequestTimeout) bounds the wait
	// for a free pool connection.
	AcquireTimeout time.Duration

	MaxBodyBytes int64 // default 1 MiB

	BenchDelay   bool // BENCH_DELAY=on honours X-Bench-Delay
	Faults       httpapi.Faults
	DropWrites   bool
	StallAccept  bool          // stall-accept: see stall.go
	FaultNames   []string      // as given, for the start-up warnings
	ExtraLatency time.Duration // BENCH_EXTRA_LATENCY, default 0
	ExtraCPU     time.Duration // BENCH_EXTRA_CPU: CPU work per request (idle-core time), default 0

	BlockProfileRate     int // runtime.SetBlockProfileRate, default 0 (off)
	MutexProfileFraction int // runtime.SetMutexProfileFraction, default 0 (off)

	LogLevel slog.Level
}

// settingError names the environment variable that is wrong (exit code 2). It never carries the
// value of a secret.
type settingError struct {
	name, reason string
}

func (e *settingError) Error() string { return "bad setting " + e.name + ": " + e.reason }

func loadConfig(getenv func(string) string) (config, error) {
	p := parser{getenv: getenv}
	c := config{
		DatabaseURL:          p.str("DATABASE_URL", ""),
		JWTIssuer:            getenv("JWT_ISSUER"),
		Addr:                 p.addr("ADDR", ":8080"),
		AdminAddr:            p.addr("ADMIN_ADDR", "127.0.0.1:6060"),
		ShutdownTimeout:      p.duration("SHUTDOWN_TIMEOUT", 10*time.Second),
		DrainDelay:           p.duration("DRAIN_DELAY", 0),
		ReadHeaderTimeout:    p.duration("READ_HEADER_TIMEOUT", 5*time.Second),
		ReadTimeout:          p.duration("READ_TIMEOUT", 10*time.Second),
		WriteTimeout:         p.duration("WRITE_TIMEOUT", 10*time.Second),
		IdleTimeout:          p.duration("IDLE_TIMEOUT", 10*time.Second),
		RequestTimeout:       p.duration("REQUEST_TIMEOUT", httpapi.DefaultRequestTimeout),
		AcquireTimeout:       p.duration("DB_ACQUIRE_TIMEOUT", postgres.DefaultAcquireTimeout),
		MaxBodyBytes:         int64(p.integer("MAX_BODY_BYTES", httpapi.DefaultMaxBodyBytes, 1)),
		DBMaxConns:           int32(p.integer("DB_MAX_CONNS", 0, 1)),
		DBMinConns:           int32(p.integer("DB_MIN_CONNS", 0, 0)),
		ExtraLatency:         p.duration("BENCH_EXTRA_LATENCY", 0),
		ExtraCPU:             p.duration("BENCH_EXTRA_CPU", 0),
		BlockProfileRate:     p.integer("BLOCK_PROFILE_RATE", 0, 0),
		MutexProfileFraction: p.integer("MUTEX_PROFILE_FRACTION", 0, 0),
	}
	p.listenEnv(&c)
	if p.err != nil {
		return config{}, p.err
	}
	if err := checkTimeouts(c); err != nil {
		return config{}, err
	}
	if c.DBMaxConns > 0 && c.DBMinConns > c.DBMaxConns {
		return config{}, &settingError{"DB_MIN_CONNS", fmt.Sprintf("%d: want at most DB_MAX_CONNS (%d)", c.DBMinConns, c.DBMaxConns)}
	}
	if c.DatabaseURL == "" {
		return config{}, &settingError{"DATABASE_URL", "required (a pgx URL such as postgres://user@host:5432/db)"}
	}
	if _, err := pgxpool.ParseConfig(c.DatabaseURL); err != nil {
		// The value is not echoed: it may hold a password.
		return config{}, &settingError{"DATABASE_URL", "not a valid pgx connection string"}
	}
	secret, err := jwtSecret(getenv)
	if err != nil {
		return config{}, err
	}
	c.JWTSecret = secret
	switch v := getenv("BENCH_DELAY"); v {
	case "", "off":
	case "on":
		c.BenchDelay = true
	default:
		return config{}, &settingError{"BENCH_DELAY", fmt.Sprintf("%q: want on or off", v)}
	}
	if v := getenv("BENCH_FAULTS"); v != "" {
		for _, f := range strings.Split(v, ",") {
			switch f = strings.TrimSpace(f); f {
			case "leak-goroutine":
				c.Faults.LeakGoroutine = true
			case "ignore-cancel":
				c.Faults.IgnoreCancel = true
			case "drop-writes":
				c.DropWrites = true
			case "lock-contention":
				c.Faults.LockContention = true
			case "alloc-storm":
				c.Faults.AllocStorm = true
			case "stall-accept":
				c.StallAccept = true
			case "slow-leak":
				c.Faults.SlowLeak = true
			case "trickle-leak":
				c.Faults.TrickleLeak = true
			case "sawtooth":
				c.Faults.Sawtooth = true
			default:
				return config{}, &settingError{"BENCH_FAULTS", fmt.Sprintf("unknown fault %q: want leak-goroutine, ignore-cancel, drop-writes, lock-contention, alloc-storm, stall-accept, slow-leak, trickle-leak, sawtooth", f)}
			}
			c.FaultNames = append(c.FaultNames, f)
		}
	}
	switch v := getenv("REUSEPORT"); v {
	case "", "off":
	case "on":
		c.ReusePort = true
	default:
		return config{}, &settingError{"REUSEPORT", fmt.Sprintf("%q: want on or off", v)}
	}
	switch v := strings.ToLower(getenv("LOG_LEVEL")); v {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return config{}, &settingError{"LOG_LEVEL", fmt.Sprintf("%q: want debug, info, warn or error", v)}
	}
	return c, nil
}

// checkTimeouts relates the request deadline to the pool wait and the write timeout.
func checkTimeouts(c config) error {
	switch {
	case c.RequestTimeout <= 0:
		return &settingError{"REQUEST_TIMEOUT", "must be positive: every request needs a deadline"}
	case c.WriteTimeout > 0 && c.RequestTimeout >= c.WriteTimeout:
		return &settingError{"REQUEST_TIMEOUT", fmt.Sprintf("%s: want less than WRITE_TIMEOUT (%s), or the 503 cannot be written", c.RequestTimeout, c.WriteTimeout)}
	case c.AcquireTimeout <= 0 || c.AcquireTimeout > c.RequestTimeout:
		return &settingError{"DB_ACQUIRE_TIMEOUT", fmt.Sprintf("%s: want more than 0 and at most REQUEST_TIMEOUT (%s)", c.AcquireTimeout, c.RequestTimeout)}
	}
	return nil
}

// jwtSecret reads JWT_SECRET: required, at least auth.MinSecretLen bytes, no default (a silent
// default secret would make every deployment's tokens interchangeable).
func jwtSecret(getenv func(string) string) ([]byte, error) {
	s := getenv("JWT_SECRET")
	if s == "" {
		return nil, &settingError{"JWT_SECRET", "required (at least 32 bytes)"}
	}
	if len(s) < auth.MinSecretLen {
		return nil, &settingError{"JWT_SECRET", fmt.Sprintf("is %d bytes, at least %d required", len(s), auth.MinSecretLen)}
	}
	return []byte(s), nil
}

// parser reads settings and keeps the first error, so loadConfig reads as a list.
type parser struct {
	getenv func(string) string
	err    error
}

func (p *parser) fail(name, format string, a ...any) {
	if p.err == nil {
		p.err = &settingError{name, fmt.Sprintf(format, a...)}
	}
}

func (p *parser) str(name, def string) string {
	if v := p.getenv(name); v != "" {
		return v
	}
	return def
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		p.fail(name, "%q: want a non-negative duration such as 10s or 250ms", v)
		return def
	}
	return d
}

func (p *parser) integer(name string, def, minimum int) int {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < minimum {
		p.fail(name, "%q: want an integer ≥ %d", v, minimum)
		return def
	}
	return n
}

func (p *parser) addr(name, def string) string {
	v := p.str(name, def)
	host, port, err := net.SplitHostPort(v)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil || strings.ContainsAny(host, " /") {
		p.fail(name, "%q: want host:port, e.g. 127.0.0.1:8080 or :0 for a free port", v)
		return def
	}
	return v
}
