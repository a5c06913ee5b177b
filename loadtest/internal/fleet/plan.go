package fleet

import (
	"errors"
	"fmt"
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
// test-only throttle, delays every send by that much more than the pacer asks.
func (p Plan) config(lag time.Duration) (attack.Config, error) {
	if !p.Shard.Valid() || p.Shard.Count == 0 {
		return attack.Config{}, fmt.Errorf("plan: bad shard %d of %d", p.Shard.Index, p.Shard.Count)
	}
	if p.StartUnixNano == 0 {
		return attack.Config{}, errors.New("plan: no start time")
	}
	if p.Freq < 0 || p.Per < 0 {
		return attack.Config{}, fmt.Errorf("plan: bad rate %d per %s", p.Freq, p.Per)
	}
	var pacer vegeta.Pacer = attack.ShardPacer{Pacer: vegeta.ConstantPacer{Freq: p.Freq, Per: p.Per}, Shard: p.Shard}
	if lag > 0 {
		pacer = lagged{Pacer: pacer, lag: lag}
	}
	t := p.Targets
	t.Shard = p.Shard
	return attack.Prepare(attack.Config{
		Scenario: p.Scenario, Pacer: pacer, Duration: p.Duration, Warmup: p.Warmup, Targets: t,
		Timeout: p.Timeout, HeldTimeout: p.HeldTimeout,
		Workers: p.Workers, MaxWorkers: p.MaxWorkers, KeepAlive: p.KeepAlive,
	})
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
func (p Plan) anchored(pacer vegeta.Pacer, t0 time.Time) anchored {
	return anchored{Pacer: pacer, t0: t0, end: p.Warmup + p.Duration,
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
}

func (p anchored) Pace(_ time.Duration, hits uint64) (time.Duration, bool) {
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
