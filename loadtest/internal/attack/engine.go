package attack

import (
	"context"
	"errors"
	"fmt"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
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
	Scenario string        // names the attack (vegeta's Result.Attack)
	Pacer    vegeta.Pacer  // vegeta.ConstantPacer, or vegeta.LinearPacer; required
	Duration time.Duration // counted part of the attack; required
	Warmup   time.Duration // sent before Duration at the same pacing, not counted, not written
	// Targeter makes the requests; nil: NewTargeter(Targets). A source that sends from other
	// processes (a fleet of workers) needs Targets, which it can send them, and no Targeter.
	Targeter vegeta.Targeter
	Targets  TargetOptions
	Timeout  time.Duration // client timeout per request (default 30s)
	// HeldTimeout is the client timeout of the requests that carry a bench delay (Delayed),
	// which a scenario may want the client to give up on sooner than on the others; 0: Timeout.
	HeldTimeout time.Duration

	Workers uint64 // initial workers (default 10)
	// MaxWorkers caps the workers; 0 means unbounded, the open model every scenario uses (a slow
	// server then shows as latency, never as a generator waiting for a worker). A cap is for
	// an attack at maximum rate (a zero-rate pacer), where vegeta needs one.
	MaxWorkers uint64
	KeepAlive  bool // reuse connections (what a real client does); false opens one per request

	ResultsPath string // where to stream the counted results (vegeta gob); empty writes none

	// Origin is the time that Window.StartMs and Request.OffsetMs count from: the scenario's
	// start, so that windows and slowest requests share the sampler's timeline and events.
	// Zero means the start of the counted window (attack start + Warmup).
	Origin time.Time

	JaegerURL      string        // base of trace links (JAEGER_URL/trace/<id>); empty: no links
	SlowestN       int           // how many slowest requests to keep (default 10; negative: none)
	MaxLatenessP99 time.Duration // validity: send lateness p99 allowed (default 50ms)

	// Shards names the workers the results come from, when several processes sent shares of
	// one schedule (a hit of sequence number seq came from Shards[seq mod len(Shards)]): the
	// figures then have a row and a validity check per worker. Empty: one process.
	Shards []string
}

// Attack performs the attack described by cfg with vegeta in this process. Every result becomes
// a Hit that goes, in arrival order, to the engine's own consumers (the results file, then the
// aggregator behind the returned Figures) and then to consumers. Cancelling ctx stops the attack
// at once (in-flight requests are aborted) and returns what arrived, with Interrupted set and a
// nil error. Errors are set-up or write failures.
func Attack(ctx context.Context, cfg Config, consumers ...Consumer) (Figures, error) {
	return Run(ctx, cfg, &Local{}, consumers...)
}

// Run is Attack with the hits sent by src: the same stamps, figures, checks and consumers
// whoever sends. An error from src.Start is returned wrapped, with no figures.
func Run(ctx context.Context, cfg Config, src Source, consumers ...Consumer) (Figures, error) {
	cfg, err := Prepare(cfg)
	if err != nil {
		return Figures{}, err
	}
	var file *resultsFile
	if cfg.ResultsPath != "" {
		f, err := createResults(cfg.ResultsPath)
		if err != nil {
			return Figures{}, fmt.Errorf("attack %s: %w", cfg.Scenario, err)
		}
		file = f
	}
	began, results, err := src.Start(ctx, cfg)
	if err != nil {
		if file != nil {
			_ = file.Close()
		}
		return Figures{}, fmt.Errorf("attack %s: %w", cfg.Scenario, err)
	}
	e := &engine{cfg: cfg, file: file, src: src, began: began}
	e.stamp = newStamper(cfg.Pacer, began, cfg.Warmup, cfg.Duration)
	e.agg = newAggregator(began.Add(cfg.Warmup), cfg.SlowestN, cfg.JaegerURL, cfg.Timeout+max(cfg.HeldTimeout, 0)+windowGrace)
	if !cfg.Origin.IsZero() {
		e.agg.origin = cfg.Origin
	}
	if file != nil {
		e.fan = append(e.fan, file)
	}
	e.fan = append(e.fan, e.agg)
	if len(cfg.Shards) > 0 {
		e.shards = newShardStats(cfg, began)
		e.fan = append(e.fan, e.shards)
	}
	if c, ok := src.(Consumer); ok {
		e.fan = append(e.fan, c)
	}
	for _, c := range consumers {
		if c != nil {
			e.fan = append(e.fan, c)
		}
	}
	counted := e.loop(ctx, results)
	f := e.figures(counted)
	src.Finish(&f)
	var werr error
	if file != nil {
		if err := file.Close(); err != nil {
			werr = fmt.Errorf("attack %s: %w", cfg.Scenario, err)
		}
	}
	return f, werr
}

// Prepare validates cfg and applies the documented defaults: what Run does first, and what a
// process that runs a Source without the engine (a worker) does before Start.
func Prepare(cfg Config) (Config, error) {
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	cfg.defaults()
	return cfg, nil
}

// engine is one attack while it runs.
type engine struct {
	cfg    Config
	src    Source
	began  time.Time
	stamp  stamper
	agg    *aggregator
	shards *shardStats  // nil: one process sent everything
	file   *resultsFile // nil: no results file
	fan    []Consumer

	interrupted bool
}

// loop hands every result to the consumers until the attack ends, ctx is cancelled, or the
// results file fails, and returns the counted span.
func (e *engine) loop(ctx context.Context, results <-chan *vegeta.Result) time.Duration {
	lo, hi := e.cfg.Warmup, e.cfg.Warmup+e.cfg.Duration
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	done := ctx.Done()
	stoppedAt := hi
	var h Hit
	for {
		select {
		case <-done:
			done = nil
			e.interrupted = true
			stoppedAt = time.Since(e.began)
			e.src.Stop()
		case now := <-tick.C:
			for _, c := range e.fan {
				if t, ok := c.(Ticker); ok {
					t.Tick(now)
				}
			}
		case r, ok := <-results:
			if !ok {
				return min(max(stoppedAt-lo, 0), e.cfg.Duration)
			}
			e.stamp.stamp(&h, r)
			for _, c := range e.fan {
				c.Add(&h)
			}
			if e.file != nil && e.file.err != nil && done != nil {
				// A full disk: stop sending, keep aggregating what is in flight.
				done = nil
				e.src.Stop()
			}
		}
	}
}

// figures is the aggregator's figures plus what only the engine knows: the schedule, whether it
// was interrupted, the per-worker rows, and the validity checks.
func (e *engine) figures(counted time.Duration) Figures {
	f := e.agg.figures(e.cfg.Scenario, e.cfg.Warmup, counted)
	f.Interrupted = e.interrupted
	f.ScheduleUnknown = !e.stamp.hasSched
	f.ResultsPath = e.cfg.ResultsPath
	if n, ok := scheduled(e.cfg.Pacer, e.cfg.Warmup, e.cfg.Warmup+counted); ok {
		f.Scheduled = n
	}
	if counted > 0 {
		f.TargetRate = e.cfg.Pacer.Rate(0)
		if _, constant := constantPacer(e.cfg.Pacer); !constant && f.Scheduled >= 0 {
			f.TargetRate = float64(f.Scheduled) / counted.Seconds()
		}
	}
	f.Checks = f.validity(e.cfg.MaxLatenessP99)
	if e.shards != nil {
		f.Workers = e.shards.rows(e.cfg, counted)
		f.Checks = append(f.Checks, workersCheck(f.Workers, e.cfg.MaxLatenessP99))
	}
	return f
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

func (c *Config) validate() error {
	switch {
	case c.Scenario == "":
		return errors.New("attack: no scenario name")
	case c.Pacer == nil:
		return fmt.Errorf("attack %s: no pacer", c.Scenario)
	case c.Targeter == nil && c.Targets.BaseURL == "":
		return fmt.Errorf("attack %s: no targeter and no target URL", c.Scenario)
	case c.Targeter == nil && len(c.Targets.Requests) == 0:
		return fmt.Errorf("attack %s: %w", c.Scenario, ErrNoTargets)
	case c.Duration <= 0:
		return fmt.Errorf("attack %s: duration %s must be > 0", c.Scenario, c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("attack %s: warm-up %s must be ≥ 0", c.Scenario, c.Warmup)
	case c.MaxWorkers > 0 && c.Workers > c.MaxWorkers:
		return fmt.Errorf("attack %s: workers %d > max workers %d", c.Scenario, c.Workers, c.MaxWorkers)
	case c.Timeout < 0 || c.HeldTimeout < 0:
		return fmt.Errorf("attack %s: timeouts %s, %s must be ≥ 0", c.Scenario, c.Timeout, c.HeldTimeout)
	}
	return nil
}

func (c *Config) defaults() {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
		if c.MaxWorkers > 0 {
			c.Workers = min(c.Workers, c.MaxWorkers)
		}
	}
	if c.MaxLatenessP99 == 0 {
		c.MaxLatenessP99 = DefaultMaxLatenessP99
	}
	if c.SlowestN == 0 {
		c.SlowestN = DefaultSlowestN
	}
}
