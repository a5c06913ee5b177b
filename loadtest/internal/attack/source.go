package attack

import (
	"cmp"
	"context"
	"net/http"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Source sends an attack's hits and returns their results as they arrive: vegeta in this
// process (Local, what Attack uses), or a fleet of workers (loadtest/internal/fleet). The engine
// stamps and aggregates the results whatever their source, so every figure and check is the
// same. A Source that is also a Consumer is fed every Hit, after the engine's own consumers and
// before the caller's.
type Source interface {
	// Start begins the attack of cfg (validated, defaults applied: see Prepare). began is offset
	// 0 of the pacer's schedule on this process's clock, what IntendedOffset counts from; the
	// channel carries every result and is closed once the attack has ended.
	Start(ctx context.Context, cfg Config) (began time.Time, results <-chan *vegeta.Result, err error)
	// Stop cuts the attack short: nothing more is sent and the requests in flight are aborted;
	// the channel still closes. It may be called more than once.
	Stop()
	// Finish adds what only the source knows to the figures of the ended attack (the peak in
	// flight, per-worker figures and checks) and releases what it holds. It is called once,
	// after the channel was closed.
	Finish(f *Figures)
}

// MaxBody is the most of a response body a result keeps (bytes): the server's own request
// limit, which no page of the API comes near. vegeta reads and discards the rest, so a target
// answering with huge bodies costs time (bounded by the client timeout), not the harness's
// memory or the results file.
const MaxBody = 1 << 20

// Local is vegeta's attacker in this process: the Source of Attack, and what a worker runs.
type Local struct {
	atk    *vegeta.Attacker
	client *http.Client
	timer  *fineTimer
	abort  context.CancelFunc // aborts the requests in flight

	sent, returned, peak atomic.Int64
}

var (
	_ Source   = (*Local)(nil)
	_ Consumer = (*Local)(nil)
)

// Start starts vegeta's attack of cfg at once, paced by onTime. Its requests carry a context
// that Stop (not ctx) aborts: vegeta's own client has none, so without it an interrupted attack
// would wait up to Timeout for every request in flight.
func (l *Local) Start(ctx context.Context, cfg Config) (time.Time, <-chan *vegeta.Result, error) {
	timer, err := newFineTimer()
	if err != nil {
		return time.Time{}, nil, err
	}
	l.timer = timer
	reqCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	l.abort = abort
	l.client = newClient(cfg, reqCtx)
	l.atk = vegeta.NewAttacker(
		vegeta.Workers(cfg.Workers),
		vegeta.MaxWorkers(cmp.Or(cfg.MaxWorkers, vegeta.DefaultMaxWorkers)),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.MaxBody(MaxBody),
		vegeta.Client(l.client), // must be the last option: it replaces the client
	)
	tr := cfg.Targeter
	if tr == nil {
		tr = NewTargeter(cfg.Targets)
	}
	// Taken just before vegeta takes its own: no result is stamped before it, and the bias of
	// every lateness is the few microseconds between the two.
	began := time.Now()
	return began, l.atk.Attack(l.countInFlight(tr), onTime{cfg.Pacer, timer}, cfg.Warmup+cfg.Duration, cfg.Scenario), nil
}

// Stop stops sending and aborts the requests in flight.
func (l *Local) Stop() {
	if l.atk != nil {
		l.atk.Stop()
		l.abort()
	}
}

// Add counts a result that came back (the engine feeds it every Hit).
func (l *Local) Add(*Hit) { l.Returned() }

// Returned counts one result taken from the channel, for the peak in flight. A caller that
// reads the channel without the engine (a worker) calls it for each result.
func (l *Local) Returned() { l.returned.Add(1) }

// PeakInFlight is the most requests in flight at once so far.
func (l *Local) PeakInFlight() int64 { return l.peak.Load() }

// Finish records the peak in flight, closes the pacer's timer and closes the client's idle
// keep-alive connections: they would outlive the attack and hold a goroutine each in the server,
// skewing the next goroutine baseline.
func (l *Local) Finish(f *Figures) {
	f.PeakInFlight = l.peak.Load()
	if l.timer != nil {
		_ = l.timer.Close()
	}
	if l.client != nil {
		l.client.CloseIdleConnections()
		l.abort()
	}
}

// countInFlight wraps the targeter, which vegeta calls once per send, to track the most
// requests in flight at once.
func (l *Local) countInFlight(tr vegeta.Targeter) vegeta.Targeter {
	return func(t *vegeta.Target) error {
		inflight := l.sent.Add(1) - l.returned.Load()
		for {
			p := l.peak.Load()
			if inflight <= p || l.peak.CompareAndSwap(p, inflight) {
				break
			}
		}
		return tr(t)
	}
}
