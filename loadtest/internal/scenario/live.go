package scenario

import (
	"cmp"
	"context"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/benchharness/benchharness/loadtest/internal/contention"
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
	// Listener is the harness's copy of the API socket the server inherited (LaunchSpec.Listen);
	// nil: the server bound its own. The runner closes it when the scenario ends, whoever
	// closed it before.
	Listener *net.TCPListener
	// Successor starts a new server process with this one's settings on the same API address:
	// bound anew, or ln inherited when given. nil: the harness cannot (an external target, a
	// -server-cmd service). The caller adopts it (Live.Adopt).
	Successor func(ctx context.Context, ln *net.TCPListener) (Server, error)
}

// LaunchSpec is what a scenario asks of its server.
type LaunchSpec struct {
	Scenario string
	Env      []string // extra K=V (ignored against an external target)
	// Listen: start the server on a listener the harness opens and keeps (Server.Listener), so
	// a successor can inherit the same socket. Managed mode only.
	Listen bool
}

// Launch gives a scenario its server. In managed mode it starts a fresh process with the spec's
// Env appended to its environment; against an external target it returns that target.
type Launch func(ctx context.Context, spec LaunchSpec) (Server, error)

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

	kernel *kernel // the kernel's view of the server; nil: out of reach

	start       time.Time // offset 0 of the timeline
	attackStart time.Time
	attackEnd   time.Time
	observer    Observer

	mu         sync.Mutex
	events     []summary.Event
	expectExit bool
	adopted    []Server
}

// Adopt hands the runner a server the scenario started (a successor): its CPU is the
// benchmark's own, and it is stopped when the scenario ends, as the scenario's own server is.
func (l *Live) Adopt(s Server) {
	l.mu.Lock()
	l.adopted = append(l.adopted, s)
	l.mu.Unlock()
}

func (l *Live) adoptedServers() []Server {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.adopted)
}

// stopAdopted stops the adopted processes.
func (l *Live) stopAdopted(grace time.Duration) {
	for _, s := range l.adoptedServers() {
		if s.Process != nil {
			_ = s.Process.Stop(grace)
		}
	}
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
	if l.observer != nil {
		l.observer.Event(l.Name, name)
	}
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
