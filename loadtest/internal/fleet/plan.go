package fleet

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
)

// Plan is one worker's part of an attack (the body of POST /v1/attack): the whole schedule, its
// shard of it, and when the schedule starts in the worker's own clock. Durations are
// nanoseconds.
type Plan struct {
	Scenario string       `json:"scenario"`
	Shard    attack.Shard `json:"shard"`
	// StartUnixNano is when the schedule begins, in the worker's clock: the coordinator's start
	// plus the worker's measured clock offset. A plan without one does nothing.
	StartUnixNano int64 `json:"start_unix_nano"`
	// Freq hits per Per: the whole schedule's constant rate (vegeta.ConstantPacer), not the
	// shard's; the worker sends its shard of it.
	Freq        int                  `json:"freq"`
	Per         time.Duration        `json:"per_ns"`
	Warmup      time.Duration        `json:"warmup_ns"`
	Duration    time.Duration        `json:"duration_ns"`
	Timeout     time.Duration        `json:"timeout_ns"`
	HeldTimeout time.Duration        `json:"held_timeout_ns"`
	Workers     uint64               `json:"workers"`
	MaxWorkers  uint64               `json:"max_workers"`
	KeepAlive   bool                 `json:"keep_alive"`
	Targets     attack.TargetOptions `json:"targets"` // the whole mix; the worker sets its Shard
}

// planFor is shard's plan of cfg, starting at start in the worker's clock. Only what a worker
// can rebuild travels: a constant pacer and the targeter's options, not functions.
func planFor(cfg attack.Config, shard attack.Shard, start time.Time) (Plan, error) {
	var p vegeta.ConstantPacer
	switch cp := cfg.Pacer.(type) {
	case vegeta.ConstantPacer:
		p = cp
	case *vegeta.ConstantPacer:
		p = *cp
	default:
		return Plan{}, fmt.Errorf("workers pace a constant rate only, not %T", cfg.Pacer)
	}
	if cfg.Targeter != nil {
		return Plan{}, errors.New("workers build their own targeter from Config.Targets: Config.Targeter must be nil")
	}
	return Plan{
		Scenario: cfg.Scenario, Shard: shard, StartUnixNano: start.UnixNano(),
		Freq: p.Freq, Per: p.Per, Warmup: cfg.Warmup, Duration: cfg.Duration,
		Timeout: cfg.Timeout, HeldTimeout: cfg.HeldTimeout,
		Workers: share(cfg.Workers, shard), MaxWorkers: share(cfg.MaxWorkers, shard), KeepAlive: cfg.KeepAlive,
		Targets: cfg.Targets,
	}, nil
}

// share is shard's part of a count of vegeta workers: the workers together open as many
// connections at most as one process would (0, unbounded, stays unbounded).
func share(total uint64, shard attack.Shard) uint64 {
	if total == 0 || shard.Count <= 1 {
		return total
	}
	n := uint64(shard.Count)
	part := total / n
	if uint64(shard.Index) < total%n {
		part++
	}
	return max(part, 1)
}

// config is the worker's attack of p: its shard of the pacer and of the targeter. lag, a
// test-only throttle, delays every send by that much more than the pacer asks. A plan outside
// the harness's bounds (attack.MaxRate and the rest) is refused with the reason: it comes from
// the network, and past them vegeta divides by zero, starts a goroutine per unit, or spins.
func (p Plan) config(lag time.Duration) (attack.Config, error) {
	if err := p.check(); err != nil {
		return attack.Config{}, fmt.Errorf("plan: %w", err)
	}
	var pacer vegeta.Pacer = attack.ShardPacer{Pacer: vegeta.ConstantPacer{Freq: p.Freq, Per: p.Per}, Shard: p.Shard}
	if lag > 0 {
		pacer = lagged{Pacer: pacer, lag: lag}
	}
	t := p.Targets
	t.Shard = p.Shard
	// An unbounded worker count is the open model of a local attack; from a plan it is capped,
	// so that a stalled target or coordinator cannot grow the worker without end.
	maxWorkers := p.MaxWorkers
	if maxWorkers == 0 {
		maxWorkers = attack.MaxWorkers
	}
	return attack.Prepare(attack.Config{
		Scenario: p.Scenario, Pacer: pacer, Duration: p.Duration, Warmup: p.Warmup, Targets: t,
		Timeout: p.Timeout, HeldTimeout: p.HeldTimeout,
		Workers: min(p.Workers, maxWorkers), MaxWorkers: maxWorkers, KeepAlive: p.KeepAlive,
	})
}

// maxScenarioName bounds the scenario's name, which the worker logs.
const maxScenarioName = 128

// check says what puts p outside the bounds, or nil.
func (p Plan) check() error {
	switch {
	case p.Shard.Count < 1 || p.Shard.Count > attack.MaxShards || p.Shard.Index < 0 || p.Shard.Index >= p.Shard.Count:
		return fmt.Errorf("bad shard %d of %d (want 0 ≤ index < count ≤ %d)", p.Shard.Index, p.Shard.Count, attack.MaxShards)
	case p.StartUnixNano == 0:
		return errors.New("no start time")
	case p.Scenario == "" || len(p.Scenario) > maxScenarioName:
		return fmt.Errorf("scenario name of %d bytes (want 1–%d)", len(p.Scenario), maxScenarioName)
	case p.Freq < 0 || p.Per < 0 || (p.Freq > 0 && p.Per == 0):
		return fmt.Errorf("bad rate %d per %dns", p.Freq, p.Per)
	case p.Freq > 0 && float64(p.Freq)/p.Per.Seconds() > attack.MaxRate:
		return fmt.Errorf("rate %d per %dns is above %d/s", p.Freq, p.Per, attack.MaxRate)
	case p.Duration <= 0 || p.Duration > attack.MaxDuration:
		return fmt.Errorf("duration %dns (want (0, %s])", p.Duration, attack.MaxDuration)
	case p.Warmup < 0 || p.Warmup > attack.MaxWarmup:
		return fmt.Errorf("warm-up %dns (want [0, %s])", p.Warmup, attack.MaxWarmup)
	case p.Timeout < 0 || p.Timeout > attack.MaxTimeout || p.HeldTimeout < 0 || p.HeldTimeout > attack.MaxTimeout:
		return fmt.Errorf("timeouts %dns, %dns (want [0, %s])", p.Timeout, p.HeldTimeout, attack.MaxTimeout)
	case p.Workers > attack.MaxWorkers || p.MaxWorkers > attack.MaxWorkers:
		return fmt.Errorf("workers %d, max workers %d (want at most %d)", p.Workers, p.MaxWorkers, attack.MaxWorkers)
	}
	return checkBase(p.Targets.BaseURL)
}

// checkBase accepts an http(s) base URL with a host and nothing after its path: a query or a
// fragment would take over the path the targeter appends, and credentials have their own field.
func checkBase(base string) error {
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return fmt.Errorf("base_url: %w", err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Errorf("base_url %q: want http(s)://host[:port][/path]", base)
	case u.User != nil, u.RawQuery != "", u.ForceQuery, u.Fragment != "", strings.Contains(base, "#"):
		return fmt.Errorf("base_url %q: no credentials, query or fragment", base)
	}
	return nil
}

// lagged is the worker's test-only throttle (-test-lag): every send waits lag longer than the
// pacer asks, so the worker falls behind its share the way a starved generator does.
type lagged struct {
	vegeta.Pacer
	lag time.Duration
}

func (p lagged) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	wait, stop := p.Pacer.Pace(elapsed, hits)
	return max(wait, 0) + p.lag, stop
}

// anchored makes the worker's pacer for an attack whose schedule starts at t0 (see anchored).
func (p Plan) anchored(pacer vegeta.Pacer, t0 time.Time, f *fault) anchored {
	return anchored{Pacer: pacer, t0: t0, end: p.Warmup + p.Duration, fault: f,
		whole: vegeta.ConstantPacer{Freq: p.Freq, Per: p.Per}, shard: p.Shard}
}

// anchored paces from t0, the schedule's start on the worker's monotonic clock, instead of from
// when vegeta started: the worker starts vegeta a little before t0 (wakeEarly), so that how
// late a timer fires is absorbed before the first hit is due instead of delaying every hit.
//
// It also ends the shard with the schedule: it sends no hit due after the end, and none once the
// end has passed (a late worker, like a late process, sends no more); vegeta's own duration,
// counted from its start, is a backstop. So the shards send exactly the hits one process
// counts. One process may send one more: vegeta checks its duration before it paces the next
// hit, then sleeps and sends it without looking again, so the hit after the last one due
// goes out when the one before it went out by the end (never counted, and not in the .bin).
type anchored struct {
	vegeta.Pacer
	t0    time.Time
	end   time.Duration
	whole vegeta.Pacer // the schedule the shard is of
	shard attack.Shard
	fault *fault // where a panic of the pacer goes; nil: none expected (tests)
}

// Pace runs in vegeta's goroutine, where a panic would end the process: one ends the attack
// instead, recorded in fault.
func (p anchored) Pace(_ time.Duration, hits uint64) (wait time.Duration, stop bool) {
	defer func() {
		if v := recover(); v != nil {
			p.fault.set("pacer", v)
			wait, stop = 0, true
		}
	}()
	return p.paceAt(time.Since(p.t0), hits)
}

func (p anchored) paceAt(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if elapsed > p.end {
		return 0, true
	}
	if due, ok := attack.IntendedOffset(p.whole, p.shard.Global(hits)); ok && due > p.end {
		return 0, true
	}
	if elapsed < 0 {
		// vegeta sleeps the wait it is given and sends: the whole wait, from now.
		wait, stop := p.Pacer.Pace(0, hits)
		return wait - elapsed, stop
	}
	return p.Pacer.Pace(elapsed, hits)
}

// fault is the first panic of the code vegeta calls on the worker's behalf (the pacer, the
// targeter): the attack ends with it as its error instead of taking the process down.
type fault struct {
	mu  sync.Mutex
	msg string
}

func (f *fault) set(where string, v any) {
	if f == nil {
		panic(v)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.msg == "" {
		f.msg = fmt.Sprintf("%s panicked: %v", where, v)
	}
}

func (f *fault) get() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msg
}

// targeter wraps tr so that a panic in it fails the hit and is recorded.
func (f *fault) targeter(tr vegeta.Targeter) vegeta.Targeter {
	return func(t *vegeta.Target) (err error) {
		defer func() {
			if v := recover(); v != nil {
				f.set("targeter", v)
				err = errors.New(f.get())
			}
		}()
		return tr(t)
	}
}
