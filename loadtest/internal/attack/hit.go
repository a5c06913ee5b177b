package attack

import (
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Hit is one result as the engine hands it to its consumers: vegeta's result and what the engine
// worked out about it once, so that no consumer works it out again (or differently).
type Hit struct {
	*vegeta.Result
	Class   string        // error class (Classify), "" for a success
	Late    time.Duration // send lateness: actual − intended send time, ≥ 0 (0 when the schedule is unknown)
	Counted bool          // its intended send time is in the counted window; false in the warm-up
	window  int           // its one-second window of the counted attack
}

// IntendedLatency is the latency from the intended send time: what the user of an open system
// waits, a late send included (the coordinated-omission correction).
func (h *Hit) IntendedLatency() time.Duration { return h.Latency + h.Late }

// Consumer takes the hits of an attack one at a time, in arrival order, on the engine's only
// goroutine: it needs no lock for its own state, and must be cheap. It has the shape of vegeta's
// reports (Metrics.Add), fed a Hit instead of a bare Result.
type Consumer interface {
	Add(*Hit)
}

// Ticker is a Consumer that is also told the time once a second, whether results arrive or not
// (windows to close, a live line to redraw while a server hangs).
type Ticker interface {
	Tick(now time.Time)
}

// ConsumerFunc adapts a function to a Consumer.
type ConsumerFunc func(*Hit)

// Add calls f(h).
func (f ConsumerFunc) Add(h *Hit) { f(h) }

// Counted passes on to c only the counted hits, not the warm-up's.
func Counted(c Consumer) Consumer { return counted{c} }

type counted struct{ c Consumer }

func (f counted) Add(h *Hit) {
	if h.Counted {
		f.c.Add(h)
	}
}

func (f counted) Tick(now time.Time) {
	if t, ok := f.c.(Ticker); ok {
		t.Tick(now)
	}
}

// stamper makes Hits of results: it knows the attack's schedule and counting window.
type stamper struct {
	pacer    vegeta.Pacer
	hasSched bool
	began    time.Time
	lo, hi   time.Duration // the counting window of intended send offsets
}

func newStamper(p vegeta.Pacer, began time.Time, warmup, duration time.Duration) stamper {
	_, has := IntendedOffset(p, 0)
	return stamper{pacer: p, hasSched: has, began: began, lo: warmup, hi: warmup + duration}
}

// stamp fills h from r, and trims r (Trim).
func (s *stamper) stamp(h *Hit, r *vegeta.Result) {
	off := r.Timestamp.Sub(s.began)
	due := off
	if s.hasSched {
		due, _ = IntendedOffset(s.pacer, r.Seq)
	}
	*h = Hit{Result: r, Class: Classify(r), Late: max(off-due, 0), Counted: inWindow(due, s.lo, s.hi)}
	if h.Counted {
		h.window = windowIndex(due-s.lo, s.hasSched)
	}
	Trim(r)
}

// Trim drops the body of a successful GET: large, and never read (POST bodies carry the created
// ids the shutdown scenario checks; error bodies explain errors). A worker trims before it
// sends a result on.
func Trim(r *vegeta.Result) {
	if Success(r) && r.Method == http.MethodGet {
		r.Body = nil
	}
}
