package scenario

import (
	"fmt"
	"math"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
)

// MaxRate bounds every rate a run asks for, in requests/s: the bound a worker holds its plans
// to (attack.MaxRate), so whatever the CLI accepts a worker accepts too.
const MaxRate = attack.MaxRate

// Settings are the knobs of a run, defaults applied by the caller. Durations are wall time,
// rates requests/s.
type Settings struct {
	Rate         float64       // steady, cancel and shutdown rate
	Duration     time.Duration // counted attack duration of steady and cancel
	Warmup       time.Duration // not counted, before Duration
	Timeout      time.Duration // client timeout per request
	SLOP99       time.Duration // p99 latency objective, from the intended send time
	MaxErrorRate float64       // highest error ratio that passes (0.01 = 1 %)
	Seed         int64
	TraceSample  float64 // share of requests with a sampled traceparent
	JaegerURL    string
	SlowestN     int
	// MaxLateness is the generator's validity bound: send-lateness p99 above it makes a
	// scenario INVALID (0: the engine's default, 50 ms).
	MaxLateness time.Duration

	Settle         time.Duration // after the attack, before the settle checks (1 s)
	GoroutineSlack float64       // goroutines over the baseline still counted as settled
	SampleEvery    time.Duration // sampler interval (100 ms)
	// ServerEvery is how often the sampler reads the server's admin pages (1 s; ≤ SampleEvery:
	// every sample): each scrape costs the server CPU, pg_stat_activity does not (docs/perf.md, P5).
	ServerEvery time.Duration
	CPUProfile  time.Duration // length of the CPU profile taken during steady
	// MaxNeighbourShare is how long a benchmark thread may wait for a CPU during one of the
	// slowest requests, as a share of the judged p99, before the scenario is INVALID while other
	// processes ran (the machine, not the server, was slow; docs/harness.md); 0: not checked.
	MaxNeighbourShare float64
	// Pool is the server's DB_MAX_CONNS for every scenario; 0 sizes it per scenario for the
	// connections its held requests need (see poolFor).
	Pool int

	// Targets and HeldTargets are the request mix and the held requests: -targets and
	// -held-targets, or the items server's profile (loadtest/internal/items). Targets is
	// required; see attack.TargetOptions.Requests.
	Targets, HeldTargets []vegeta.Target

	Cancel   CancelSettings
	Shutdown ShutdownSettings
	Deploy   DeploySettings
	Ramp     RampSettings
	Soak     SoakSettings
}

// SoakSettings are the soak's knobs. Limits are growth per hour of the judged span's trend.
type SoakSettings struct {
	Duration time.Duration // the whole attack, warm-up included (30 min)
	Warmup   time.Duration // its first part, not judged: caches, pools and the heap settle
	// MemoryLimit is the most the live heap and the RSS may grow, in MiB per hour.
	MemoryLimit float64
	// CountLimit is the most goroutines, open connections, open fds, pool connections and
	// PostgreSQL sessions may grow, each, per hour.
	CountLimit float64
	// P99Drift is the most the p99 from the intended send time may grow per hour.
	P99Drift time.Duration
}

// DeploySettings are the deploy scenario's knobs; its load, held requests and the old server's
// drain are the shutdown scenario's (ShutdownSettings).
type DeploySettings struct {
	Strategy string        // restart, reuseport or handoff (Strategies)
	MaxGap   time.Duration // longest time between two answered requests that passes
	// MigrateReq is net.ipv4.tcp_migrate_req set for the reuseport switch (0 or 1) and put back
	// after it; −1 leaves it as it is.
	MigrateReq int
}

// CancelSettings are the cancel scenario's knobs.
type CancelSettings struct {
	Share   float64       // share of requests held past the client timeout
	Delay   time.Duration // X-Bench-Delay of those requests
	Timeout time.Duration // the client timeout of the held requests (the others keep Settings.Timeout)
	// MaxCleanup bounds the time from the last cancel until no cancelled query runs in
	// PostgreSQL: the server resends a cancel every 100 ms and closes the connection after
	// 500 ms, which PostgreSQL notices within 250 ms (server/internal/postgres/cancel.go).
	MaxCleanup time.Duration
}

// ShutdownSettings are the shutdown scenarios' knobs.
type ShutdownSettings struct {
	Duration          time.Duration // attack duration
	At                time.Duration // SIGTERM this long after the warm-up
	HoldShare         float64       // share of requests held in flight
	HoldDelay         time.Duration // their X-Bench-Delay
	DrainTimeout      time.Duration // the server's SHUTDOWN_TIMEOUT in shutdown
	DrainDelay        time.Duration // the server's DRAIN_DELAY
	ShortDrainTimeout time.Duration // SHUTDOWN_TIMEOUT in shutdown-short-drain (< HoldDelay)
	// FailOnAcceptQueue: requests whose connection the kernel reset in the listener's accept
	// queue FAIL the verdict (default off: a plain shutdown has no other server to take them;
	// a deploy has, and turns it on). Off, they are counted and listed.
	FailOnAcceptQueue bool
}

// RampSettings are the ramp's knobs.
type RampSettings struct {
	From, To float64       // first and last rate
	Steps    int           // number of rates tried, geometric from From to To
	Step     time.Duration // duration of each
	// Refine is how many more rates the ramp tries after its first miss, each halfway (in
	// ratio) between the highest rate met and the lowest missed: the geometric steps alone
	// put the capacity on a grid as coarse as their ratio (1.46 by default).
	Refine      int
	MinCapacity float64 // a capacity below it FAILS the ramp (0: any capacity > 0 passes)
	// CPURate and CPUHold: the highest own rate not above CPURate lasts CPUHold rather than
	// Step, and compare reads the server's CPU per request there. A one-second step's CPU
	// figure spreads 4–8 % from step to step, and most of that is time, not the run: the means
	// of ten such steps at one rate had a standard deviation of 1.6 % across runs. 0: no hold.
	CPURate float64
	CPUHold time.Duration
}

// CheckRates reports the first rate setting outside its range: -rate, -ramp-from and -ramp-to
// in (0, MaxRate], -ramp-cpu-rate and -min-capacity in [0, MaxRate]. NaN is outside every range.
func (s Settings) CheckRates() error {
	for _, r := range []struct {
		flag      string
		v         float64
		zeroValid bool
	}{
		{"-rate", s.Rate, false}, {"-ramp-from", s.Ramp.From, false}, {"-ramp-to", s.Ramp.To, false},
		{"-ramp-cpu-rate", s.Ramp.CPURate, true}, {"-min-capacity", s.Ramp.MinCapacity, true},
	} {
		low := "> 0"
		if r.zeroValid {
			low = "≥ 0"
		}
		if math.IsNaN(r.v) || r.v > MaxRate || r.v < 0 || (r.v == 0 && !r.zeroValid) {
			return fmt.Errorf("%s must be %s and at most %g requests/s, got %g", r.flag, low, float64(MaxRate), r.v)
		}
	}
	return nil
}

// cpuHoldRate is the own rate that holds for the CPU measurement (0: none).
func (r RampSettings) cpuHoldRate(rates []float64) float64 {
	if r.CPURate <= 0 || r.CPUHold <= r.Step {
		return 0
	}
	hold := 0.0
	for _, rate := range rates {
		if rate <= r.CPURate*1.0001 {
			hold = rate
		}
	}
	return hold
}
