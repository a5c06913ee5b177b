package scenario

import (
	"cmp"
	"context"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/benchharness/benchharness/loadtest/internal/contention"
	"github.com/benchharness/benchharness/loadtest/internal/promexport"
	"github.com/benchharness/benchharness/loadtest/internal/sampler"
	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Target is the server a scenario loads, as far as HTTP reaches: a process the harness started
// or an external target.
type Target interface {
	API() string   // public base URL
	Admin() string // admin base URL (/metrics, /readyz, /debug/pprof)
	// DBApplication is the application_name of its PostgreSQL sessions (pg_stat_activity);
	// empty when they cannot be told apart (a service with no -db-application).
	DBApplication() string
	// ReadyURL answered 2xx when the server was ready ("" : it has no readiness endpoint).
	ReadyURL() string
}

// Process is a server process the harness started and may signal; an external target has none.
type Process interface {
	PID() int
	Signal(os.Signal) error
	Exited() <-chan struct{} // closed when the process exits
	ExitCode() int           // valid once Exited is closed
	ExitedAt() time.Time     // zero before the exit
	LogTail() string         // the last lines of its output
	Stop(grace time.Duration) error
}

var (
	_ Target  = (*serverctl.Local)(nil)
	_ Process = (*serverctl.Local)(nil)
	_ Target  = (*serverctl.External)(nil)
)

// Server is what Launch gives a scenario: the target, its process (nil when the harness did not
// start it) and a token it accepts.
type Server struct {
	Target
	Process Process
	// Terminate asks a server the harness did not start to shut down (the operator's
	// -signal-cmd) and returns what the command printed; nil: none. The shutdown scenario
	// signals Process when there is one, else calls Terminate.
	Terminate func(ctx context.Context) (output string, err error)
	Token     string
	// Signals are where its own side is read (-metrics-url, -pprof-url); nil: the runner
	// probes the admin listener, then the API one.
	Signals *summary.Signals
}

// Launch gives a scenario its server. In managed mode it starts a fresh process with env
// appended to its environment; against an external target it returns that target (env cannot
// be applied and is ignored).
type Launch func(ctx context.Context, scenario string, env []string) (Server, error)

// Live is one scenario's run while it happens: its server, its one clock, its events. Every
// offset of the run (windows, slowest requests, samples, events) counts from Start.
type Live struct {
	Settings Settings
	Server   Server
	DB       *pgxpool.Pool // the harness's own connection; nil when it has none
	Dir      string        // the run folder
	Name     string
	Sampler  *sampler.Sampler
	// Contention reads the run-queue delay of the benchmark's threads; nil when they do not
	// all run here.
	Contention *contention.Monitor
	// Signals are what the server exposes: a check whose signal is missing says "not
	// available" instead of judging.
	Signals summary.Signals
	// WritesTable is the table whose id a 201's JSON body names (the acknowledged-writes
	// check); empty: not available.
	WritesTable string

	start       time.Time // offset 0 of the timeline
	attackStart time.Time
	attackEnd   time.Time
	metrics     *promexport.Metrics

	mu         sync.Mutex
	events     []summary.Event
	expectExit bool
}

// Start is offset 0 of the run's timeline.
func (l *Live) Start() time.Time { return l.start }

// Offset returns t as milliseconds from the run's start.
func (l *Live) Offset(t time.Time) float64 { return summary.Ms(t.Sub(l.start)) }

// AttackStart returns when the attack (warm-up included) started.
func (l *Live) AttackStart() time.Time { return l.attackStart }

// Event marks a moment now on the timeline (and counts it in the harness metrics).
func (l *Live) Event(name, detail string) { l.EventAt(name, time.Now(), detail) }

// EventAt marks an event at a past moment t.
func (l *Live) EventAt(name string, t time.Time, detail string) {
	l.mu.Lock()
	l.events = append(l.events, summary.Event{OffsetMs: l.Offset(t), Name: name, Detail: detail})
	slices.SortStableFunc(l.events, func(a, b summary.Event) int { return cmp.Compare(a.OffsetMs, b.OffsetMs) })
	l.mu.Unlock()
	l.metrics.Event(l.Name, name)
}

// Events returns a copy of the events so far, in time order.
func (l *Live) Events() []summary.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// ExpectExit tells the crash watcher that the server is about to exit on purpose.
func (l *Live) ExpectExit() {
	l.mu.Lock()
	l.expectExit = true
	l.mu.Unlock()
}

func (l *Live) exitExpected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expectExit
}

// ServerStats are the sampler's headline figures so far, the "after" reading at settleAt.
func (l *Live) ServerStats(settleAt time.Time) summary.ServerStats {
	return sampler.Stats(l.Sampler.Samples(), l.attackStart.Sub(l.start), l.attackEnd.Sub(l.start),
		settleAt.Sub(l.start), l.Settings.GoroutineSlack)
}
