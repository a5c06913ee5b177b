package attack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/progress"
	"github.com/benchharness/benchharness/loadtest/internal/promexport"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Defaults of Config fields left zero.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultWorkers        = 10
	DefaultMaxLatenessP99 = 50 * time.Millisecond
	DefaultSlowestN       = 10
)

// windowGrace is how long past Timeout a window stays open for late sends: windows are indexed
// by intended send time, and a generator late by more than this (then INVALID anyway) has its
// stragglers counted overall but not in their window.
const windowGrace = 5 * time.Second

// Config is one attack. Zero values take the documented defaults.
type Config struct {
	Scenario string          // names the attack (vegeta's Result.Attack) and the metrics' label
	Pacer    vegeta.Pacer    // vegeta.ConstantPacer, or vegeta.LinearPacer for a ramp; required
	Duration time.Duration   // counted part of the attack; required
	Warmup   time.Duration   // sent before Duration at the same pacing, not counted, not written
	Targeter vegeta.Targeter // NewTargeter's, or the scenario's own; required
	Timeout  time.Duration   // client timeout per request (default 30s)

	Workers    uint64 // initial workers (default 10)
	MaxWorkers uint64 // cap on workers; 0 means unbounded (vegeta's default)
	KeepAlive  bool   // reuse connections (what a real client does); false opens one per request

	ResultsPath string // where to stream the counted results (vegeta gob); empty writes none

	// Origin is the time that Window.StartMs and Request.OffsetMs count from: set it to the
	// scenario's start so windows and slowest requests line up with the sampler's timeline and
	// events. Zero means the start of the counted window (attack start + Warmup).
	Origin time.Time

	JaegerURL      string        // base of trace links (JAEGER_URL/trace/<id>); empty: no links
	SlowestN       int           // how many slowest requests to keep (default 10; negative: none)
	MaxLatenessP99 time.Duration // validity: send lateness p99 allowed (default 50ms)

	// OnResult sees every counted result in arrival order, after its body was stripped (GET
	// successes) and it was written. It runs on the engine's only goroutine: keep it cheap.
	OnResult func(*vegeta.Result)

	Progress *progress.Line      // optional live line
	Metrics  *promexport.Metrics // optional harness metrics
}

// Outcome is what an attack measured: the client-side fields of summary.Scenario (see Fill)
// plus the validity checks and bookkeeping the scenario may want.
type Outcome struct {
	Scenario    string
	StartedAt   time.Time     // start of the counted window (attack start + Warmup)
	Duration    time.Duration // counted span: Duration, or less when interrupted
	Warmup      time.Duration
	Interrupted bool // ctx was cancelled before the attack ended

	TargetRate   float64 // requests/s scheduled in the counted window
	AchievedRate float64 // requests/s counted
	Throughput   float64 // successes/s
	Scheduled    int64   // hits the pacer scheduled in the counted window (−1: pacer unknown)
	Requests     int64
	Successes    int64
	Warmups      int64 // warm-up results (sent, not counted)
	StatusCodes  map[string]int64
	ErrorClasses map[string]int64

	Latency         summary.Latencies
	LatencyIntended summary.Latencies
	SendLateness    summary.Latencies

	Windows []summary.Window
	Slowest []summary.Request

	BlockedSends    int64 // sends late by more than MaxLatenessP99 while every worker was busy
	PeakInFlight    int64
	ScheduleUnknown bool // the pacer's schedule cannot be inverted: lateness not measured

	Checks      []summary.Check // validity checks, all of Kind Validity
	ResultsPath string
}

// Valid reports whether every validity check passed.
func (o Outcome) Valid() bool {
	for _, c := range o.Checks {
		if !c.Pass {
			return false
		}
	}
	return true
}

// Fill copies the client-side figures into s. It leaves the verdict, reasons and checks to the
// scenario (append o.Checks to s.Checks), keeps a StartedAt the scenario already set, and sets
// s.Files["results"] when results were written.
func (o Outcome) Fill(s *summary.Scenario) {
	if s.StartedAt.IsZero() {
		s.StartedAt = o.StartedAt
	}
	s.DurationMs = ms(o.Duration)
	s.WarmupMs = ms(o.Warmup)
	s.TargetRate = o.TargetRate
	s.AchievedRate = o.AchievedRate
	s.Throughput = o.Throughput
	s.Requests = o.Requests
	s.Successes = o.Successes
	s.SuccessRatio, s.ErrorRatio = 0, 0
	if o.Requests > 0 {
		s.SuccessRatio = float64(o.Successes) / float64(o.Requests)
		s.ErrorRatio = 1 - s.SuccessRatio
	}
	s.StatusCodes = o.StatusCodes
	s.ErrorClasses = o.ErrorClasses
	s.Latency = o.Latency
	s.LatencyIntended = o.LatencyIntended
	s.SendLateness = o.SendLateness
	s.Windows = o.Windows
	s.Slowest = o.Slowest
	if o.ResultsPath != "" {
		if s.Files == nil {
			s.Files = map[string]string{}
		}
		s.Files["results"] = filepath.Base(o.ResultsPath)
	}
}

// Run performs the attack described by cfg and returns what it measured. Cancelling ctx stops
// it at once (in-flight requests are aborted) and returns what arrived, with Interrupted set
// and a nil error. Errors are set-up or write failures.
func Run(ctx context.Context, cfg Config) (Outcome, error) {
	if err := cfg.validate(); err != nil {
		return Outcome{}, err
	}
	cfg.defaults()

	var (
		enc  vegeta.Encoder
		bw   *bufio.Writer
		file *os.File
		werr error
	)
	if cfg.ResultsPath != "" {
		f, err := os.Create(cfg.ResultsPath)
		if err != nil {
			return Outcome{}, fmt.Errorf("attack %s: create results: %w", cfg.Scenario, err)
		}
		file, bw = f, bufio.NewWriterSize(f, 64<<10)
		enc = vegeta.NewEncoder(bw)
		defer file.Close()
	}

	// Requests carry a context that ctx's cancellation aborts: vegeta's own client has none, so
	// without this an interrupted run would wait up to Timeout for every request in flight.
	reqCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	client := newClient(cfg, reqCtx)
	// Idle keep-alive connections would outlive the attack and hold a goroutine each in the
	// server, skewing the next goroutine baseline: close them when the attack is over.
	defer client.CloseIdleConnections()
	atk := vegeta.NewAttacker(
		vegeta.Workers(cfg.Workers),
		vegeta.MaxWorkers(cfg.maxWorkers()),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.Client(client), // must be the last option: it replaces the client
	)

	_, hasSched := IntendedOffset(cfg.Pacer, 0)
	lo, hi := cfg.Warmup, cfg.Warmup+cfg.Duration
	total := hi

	// The targeter wrapper sees every send in order: it counts in-flight requests and notices
	// a late send while every worker is busy, which is what "workers exhausted" means.
	var sent, received, blocked, peak atomic.Int64
	began := time.Now()
	tr := func(t *vegeta.Target) error {
		k := sent.Add(1) - 1
		inflight := k - received.Load() + 1 // this one included
		for {
			p := peak.Load()
			if inflight <= p || peak.CompareAndSwap(p, inflight) {
				break
			}
		}
		if hasSched && cfg.MaxWorkers > 0 && uint64(inflight) >= cfg.MaxWorkers {
			due, _ := IntendedOffset(cfg.Pacer, uint64(k))
			if time.Since(began)-due > cfg.MaxLatenessP99 {
				blocked.Add(1)
			}
		}
		return cfg.Targeter(t)
	}

	agg := newAggregator(began.Add(lo), cfg.SlowestN, cfg.JaegerURL, cfg.Timeout+windowGrace)
	if !cfg.Origin.IsZero() {
		agg.origin = cfg.Origin
	}
	sk := &sink{cfg: &cfg, began: began, lo: lo, hi: hi, hasSched: hasSched, enc: enc, agg: agg}
	cfg.Metrics.SetTargetRate(cfg.Scenario, cfg.Pacer.Rate(0))
	cfg.Metrics.Running(cfg.Scenario, true)
	cfg.Metrics.Event(cfg.Scenario, promexport.EventStart)
	defer cfg.Metrics.Running(cfg.Scenario, false)

	results := atk.Attack(tr, cfg.Pacer, total, cfg.Scenario)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	done := ctx.Done()
	interrupted := false
	var stoppedAt time.Duration

	snapshot := func() progress.Snapshot {
		el := time.Since(began)
		s := progress.Snapshot{Scenario: cfg.Scenario, Elapsed: el, Total: total,
			Requests: agg.requests, Errors: agg.requests - agg.successes, Warmup: el < lo}
		if c := el - lo; c > 0 && agg.requests > 0 {
			s.Rate = float64(agg.requests) / c.Seconds()
			s.P99 = agg.latency.Quantile(0.99)
		}
		return s
	}

loop:
	for {
		select {
		case <-done:
			done = nil
			interrupted = true
			stoppedAt = time.Since(began)
			atk.Stop()
			abort()
		case <-tick.C:
			agg.flush(time.Now())
			cfg.Progress.Update(snapshot())
		case r, ok := <-results:
			if !ok {
				break loop
			}
			received.Add(1)
			if err := sk.take(r); err != nil {
				werr = err
				atk.Stop()
				abort()
			}
			if cfg.Progress.Due() {
				cfg.Progress.Update(snapshot())
			}
		}
	}
	cfg.Metrics.Event(cfg.Scenario, promexport.EventEnd)

	counted := cfg.Duration
	if interrupted {
		counted = min(max(stoppedAt-lo, 0), cfg.Duration)
		hi = lo + counted
	}
	agg.finish(counted)
	final := snapshot()
	if counted > 0 {
		final.Rate = float64(agg.requests) / counted.Seconds() // the achieved rate, as reported
	}
	cfg.Progress.Finish(final)

	if bw != nil {
		if err := bw.Flush(); err != nil && werr == nil {
			werr = fmt.Errorf("attack %s: write results: %w", cfg.Scenario, err)
		}
		if err := file.Close(); err != nil && werr == nil {
			werr = fmt.Errorf("attack %s: close results: %w", cfg.Scenario, err)
		}
	}

	o := Outcome{
		Scenario:        cfg.Scenario,
		StartedAt:       began.Add(lo).UTC(),
		Duration:        counted,
		Warmup:          lo,
		Interrupted:     interrupted,
		Requests:        agg.requests,
		Successes:       agg.successes,
		Warmups:         sk.warmups,
		StatusCodes:     agg.codes,
		ErrorClasses:    agg.classes,
		Latency:         latencies(&agg.latency, agg.requests),
		LatencyIntended: latencies(&agg.intended, agg.requests),
		SendLateness:    latencies(&agg.lateness, agg.requests),
		Windows:         agg.done,
		Slowest:         agg.slowestSorted(),
		BlockedSends:    blocked.Load(),
		PeakInFlight:    peak.Load(),
		ScheduleUnknown: !hasSched,
		Scheduled:       -1,
		ResultsPath:     cfg.ResultsPath,
	}
	if n, ok := scheduled(cfg.Pacer, lo, hi); ok {
		o.Scheduled = n
	}
	if secs := counted.Seconds(); secs > 0 {
		o.AchievedRate = float64(o.Requests) / secs
		o.Throughput = float64(o.Successes) / secs
		o.TargetRate = cfg.Pacer.Rate(0)
		if _, constant := constantPacer(cfg.Pacer); !constant && o.Scheduled >= 0 {
			o.TargetRate = float64(o.Scheduled) / secs
		}
	}
	o.Checks = o.checks(cfg)
	return o, werr
}

func constantPacer(p vegeta.Pacer) (vegeta.ConstantPacer, bool) {
	switch p := p.(type) {
	case vegeta.ConstantPacer:
		return p, true
	case *vegeta.ConstantPacer:
		return *p, true
	}
	return vegeta.ConstantPacer{}, false
}

// checks judges whether the generator kept up. They make a scenario INVALID, not FAIL: when the
// client fell behind, the figures describe the client, not the server.
func (o Outcome) checks(cfg Config) []summary.Check {
	var cs []summary.Check

	rate := summary.Check{Name: "generator rate", Kind: summary.Validity,
		Want: "≥ 99% of the scheduled requests sent"}
	switch {
	case o.Scheduled < 0:
		rate.Pass = true
		rate.Got = fmt.Sprintf("%d sent at %.1f/s (pacer schedule unknown: not judged)", o.Requests, o.AchievedRate)
	default:
		missed := o.Scheduled - o.Requests
		share := 1.0
		if o.Scheduled > 0 {
			share = float64(o.Requests) / float64(o.Scheduled)
		}
		// One hit of slack: the window's edge can hold or lose one hit by timer rounding,
		// which at a low rate is more than 1 %.
		rate.Pass = missed <= 1 || share >= 0.99
		rate.Got = fmt.Sprintf("%d of %d (%.1f%%), %.1f/s of %.1f/s", o.Requests, o.Scheduled, 100*share, o.AchievedRate, o.TargetRate)
	}
	cs = append(cs, rate)

	late := summary.Check{Name: "send lateness p99", Kind: summary.Validity,
		Want: fmt.Sprintf("≤ %s", cfg.MaxLatenessP99)}
	if o.ScheduleUnknown {
		late.Pass = true
		late.Got = "not measured (pacer schedule unknown)"
	} else {
		late.Pass = o.SendLateness.P99 <= ms(cfg.MaxLatenessP99)
		late.Got = fmt.Sprintf("%.2f ms", o.SendLateness.P99)
	}
	cs = append(cs, late)

	workers := summary.Check{Name: "workers", Kind: summary.Validity, Want: "no send delayed by a full worker pool"}
	if cfg.MaxWorkers == 0 {
		workers.Pass = true
		workers.Got = fmt.Sprintf("unbounded; peak %d in flight", o.PeakInFlight)
	} else {
		workers.Pass = o.BlockedSends == 0
		workers.Got = fmt.Sprintf("%d late sends with all %d workers busy; peak %d in flight", o.BlockedSends, cfg.MaxWorkers, o.PeakInFlight)
	}
	cs = append(cs, workers)
	return cs
}

func (c *Config) validate() error {
	switch {
	case c.Scenario == "":
		return errors.New("attack: no scenario name")
	case c.Pacer == nil:
		return fmt.Errorf("attack %s: no pacer", c.Scenario)
	case c.Targeter == nil:
		return fmt.Errorf("attack %s: no targeter", c.Scenario)
	case c.Duration <= 0:
		return fmt.Errorf("attack %s: duration %s must be > 0", c.Scenario, c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("attack %s: warm-up %s must be ≥ 0", c.Scenario, c.Warmup)
	case c.Timeout < 0:
		return fmt.Errorf("attack %s: timeout %s must be ≥ 0", c.Scenario, c.Timeout)
	case c.MaxWorkers > 0 && c.Workers > c.MaxWorkers:
		return fmt.Errorf("attack %s: workers %d > max workers %d", c.Scenario, c.Workers, c.MaxWorkers)
	}
	return nil
}

func (c *Config) defaults() {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
		if c.MaxWorkers > 0 && c.Workers > c.MaxWorkers {
			c.Workers = c.MaxWorkers
		}
	}
	if c.MaxLatenessP99 == 0 {
		c.MaxLatenessP99 = DefaultMaxLatenessP99
	}
	if c.SlowestN == 0 {
		c.SlowestN = DefaultSlowestN
	}
}

func (c *Config) maxWorkers() uint64 {
	if c.MaxWorkers == 0 {
		return vegeta.DefaultMaxWorkers
	}
	return c.MaxWorkers
}

// newClient is vegeta's default client (same dialer keep-alive and idle pool) with our
// timeout and keep-alive setting. Cancelling ctx closes every connection it dialled, which
// aborts the requests in flight on them at once, and refuses new dials.
//
// The transport stays a plain *http.Transport: wrapping it to tie each request to ctx made
// net/http add a goroutine, a timer and a context per request (Client.Timeout on an unknown
// RoundTripper), measured at 19 % more CPU per request than the vegeta CLI (make perf, P3a).
func newClient(cfg Config, ctx context.Context) *http.Client {
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	if !cfg.KeepAlive {
		dialer.KeepAlive = 0
	}
	conns := &connSet{dial: dialer.DialContext, conns: map[*trackedConn]struct{}{}}
	context.AfterFunc(ctx, conns.closeAll)
	tr := &http.Transport{
		Proxy:               nil, // loopback targets: never through an environment proxy
		DialContext:         conns.DialContext,
		MaxIdleConnsPerHost: vegeta.DefaultConnections,
		DisableKeepAlives:   !cfg.KeepAlive,
	}
	return &http.Client{
		Timeout:   cfg.Timeout,
		Transport: tr,
		// Redirects are results, not something to follow (vegeta.NoFollow).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// connSet is the set of open connections a client dialled, so that an interrupt can close
// them all: a request in flight on one fails at once ("use of closed network connection",
// classified as cancelled).
type connSet struct {
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

// DialContext dials through the set's dialer and tracks the connection until it is closed.
func (s *connSet) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := s.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, fmt.Errorf("dial %s: attack interrupted: %w", addr, context.Canceled)
	}
	tc := &trackedConn{Conn: c, set: s}
	s.conns[tc] = struct{}{}
	return tc, nil
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	conns := s.conns
	s.conns, s.closed = nil, true
	s.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
}

func (s *connSet) remove(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c) // a no-op on the nil map after closeAll
}

type trackedConn struct {
	net.Conn
	set *connSet
}

func (c *trackedConn) Close() error {
	c.set.remove(c)
	return c.Conn.Close()
}

// sink handles each result as it arrives: classify, count it live, decide warm-up or counted,
// strip what nobody reads, write it, aggregate it, hand it to OnResult. It is the engine's
// per-result cost (BenchmarkSink measures it).
type sink struct {
	cfg      *Config
	began    time.Time
	lo, hi   time.Duration // the counting window of intended send offsets
	hasSched bool
	enc      vegeta.Encoder // nil: no results file
	agg      *aggregator
	warmups  int64
	failed   bool // a write failed: stop writing, keep aggregating what arrives
}

// take processes one result. Its error is a results-file write failure, returned once.
func (s *sink) take(r *vegeta.Result) error {
	cfg := s.cfg
	off := r.Timestamp.Sub(s.began)
	due := off
	if s.hasSched {
		due, _ = IntendedOffset(cfg.Pacer, r.Seq)
	}
	class := Classify(r)
	cfg.Metrics.Result(cfg.Scenario, r.Code, class, r.Latency)
	if !inWindow(due, s.lo, s.hi) {
		s.warmups++
		return nil
	}
	if class == "" && r.Method == http.MethodGet {
		r.Body = nil // large and never read; POST bodies carry the created ids
	}
	var err error
	if s.enc != nil && !s.failed {
		if e := s.enc.Encode(r); e != nil {
			s.failed = true
			err = fmt.Errorf("attack %s: write results: %w", cfg.Scenario, e)
		}
	}
	s.agg.add(r, class, max(off-due, 0), windowIndex(due-s.lo, s.hasSched))
	if cfg.OnResult != nil {
		cfg.OnResult(r)
	}
	return err
}
