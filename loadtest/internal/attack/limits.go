package attack

import "time"

// The largest attack the harness sends, in one process or spread over workers. A worker checks
// every plan against them (a plan from the network is input, not a promise), and the CLI checks
// its flags against the same numbers, so whatever one accepts the other does. Each bound is far
// above what a benchmark of one service needs and far below what wedges a process: past them
// vegeta divides by zero, starts a goroutine per unit, or pins a core.
const (
	// MaxRate is the highest rate of a whole schedule, in hits per second (all shards together).
	MaxRate = 100_000
	// MaxDuration bounds the counted part of an attack.
	MaxDuration = 24 * time.Hour
	// MaxWarmup bounds the warm-up before it.
	MaxWarmup = time.Hour
	// MaxTimeout bounds a request's client timeout (Timeout and HeldTimeout).
	MaxTimeout = 10 * time.Minute
	// MaxWorkers bounds vegeta's workers (goroutines, each with its connection) of one process:
	// the most requests it has in flight at once. An attack with MaxWorkers 0 (unbounded) is
	// capped at it where it runs from a plan.
	MaxWorkers = 10_000
	// MaxShards bounds how many workers share one schedule.
	MaxShards = 1_000
)
