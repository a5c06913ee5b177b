// Package progress draws the one live line a scenario shows while it attacks: scenario,
// elapsed/total, rate, errors and p99 so far. An Attack is the attack engine's consumer that
// feeds the line; it keeps its own counts and its own latency histogram, never the engine's
// t-digests (reading a t-digest compresses it and would change the final percentiles).
//
// On a terminal the line is redrawn in place with a carriage return a few times a second; on
// anything else (a CI log, a pipe) it prints a plain line every few seconds instead, because a log
// full of carriage returns is unreadable and one line per result would drown everything else.
package progress

import (
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
)

// Default redraw intervals: fast enough to look live on a terminal, sparse enough in a log.
const (
	TerminalEvery = 200 * time.Millisecond
	PlainEvery    = 5 * time.Second
)

// Snapshot is what the line shows at one moment.
type Snapshot struct {
	Scenario string
	Elapsed  time.Duration // since the attack started, warm-up included
	Total    time.Duration // warm-up + duration
	Rate     float64       // requests/s sent so far (counted requests)
	Requests int64
	Errors   int64
	P99      time.Duration // of the counted requests so far, from the actual send time
	Warmup   bool          // still in the warm-up: the figures are the warm-up's, not counted
}

// Line writes Snapshots to a writer, rate-limited. Its methods are safe for concurrent use.
type Line struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	every    time.Duration
	last     time.Time
	now      func() time.Time
	width    int // length of the last drawn line, to blank leftovers on a terminal
}

// New returns a Line writing to w. It redraws in place when w is a terminal (an *os.File for
// which term.IsTerminal holds), and prints plain periodic lines otherwise.
func New(w io.Writer) *Line {
	terminal := false
	if f, ok := w.(*os.File); ok {
		terminal = term.IsTerminal(int(f.Fd()))
	}
	return NewWith(w, terminal)
}

// NewWith returns a Line with the terminal behaviour forced on or off (tests, -no-tty flags).
func NewWith(w io.Writer, terminal bool) *Line {
	every := PlainEvery
	if terminal {
		every = TerminalEvery
	}
	return &Line{w: w, terminal: terminal, every: every, now: time.Now}
}

// Update shows s if the last draw is older than the redraw interval; otherwise it does nothing,
// so the engine may call it per result.
func (l *Line) Update(s Snapshot) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		return
	}
	l.last = now
	l.draw(s, false)
}

// Attack returns the consumer that shows one attack on l: scenario name, warm-up and counted
// duration. On a plain writer its first line comes a full interval after the start, so a short
// attack (a ramp step) prints only its final line rather than a meaningless one at its start.
func (l *Line) Attack(scenario string, warmup, duration time.Duration) *Attack {
	if l == nil {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	if !l.terminal {
		l.last = now
	}
	l.mu.Unlock()
	return &Attack{line: l, scenario: scenario, began: now, warmup: warmup, total: warmup + duration}
}

// Attack is the live view of one attack: an attack.Consumer (and Ticker) that redraws its Line.
type Attack struct {
	line          *Line
	scenario      string
	began         time.Time
	warmup, total time.Duration
	counted       tally
	warm          tally // shown during the warm-up: a soak's 3 min must show that load flows
}

// tally is the requests, errors and latencies of one phase of an attack.
type tally struct {
	requests, errors int64
	hist             histogram
}

func (t *tally) add(h *attack.Hit) {
	t.requests++
	if h.Class != "" {
		t.errors++
	}
	t.hist.add(h.Latency)
}

// fill sets s's figures from t over the phase's elapsed time.
func (t *tally) fill(s *Snapshot, elapsed time.Duration) {
	s.Requests, s.Errors = t.requests, t.errors
	if elapsed > 0 && t.requests > 0 {
		s.Rate, s.P99 = float64(t.requests)/elapsed.Seconds(), t.hist.quantile(0.99)
	}
}

var _ attack.Ticker = (*Attack)(nil)

// Add counts a hit, counted or warm-up, and redraws when due.
func (a *Attack) Add(h *attack.Hit) {
	if h.Counted {
		a.counted.add(h)
	} else {
		a.warm.add(h)
	}
	if a.line.Due() {
		a.line.Update(a.snapshot(a.line.now()))
	}
}

// Tick redraws when due, also while no result arrives (a hung server).
func (a *Attack) Tick(now time.Time) { a.line.Update(a.snapshot(now)) }

// Finish draws the final line with the attack's achieved rate, as the report will give it.
func (a *Attack) Finish(achievedRate float64) {
	if a == nil {
		return
	}
	s := a.snapshot(a.line.now())
	s.Rate = achievedRate
	a.line.Finish(s)
}

func (a *Attack) snapshot(now time.Time) Snapshot {
	el := now.Sub(a.began)
	s := Snapshot{Scenario: a.scenario, Elapsed: el, Total: a.total, Warmup: el < a.warmup}
	if s.Warmup {
		a.warm.fill(&s, el)
	} else {
		a.counted.fill(&s, el-a.warmup)
	}
	return s
}

// histogram is a cumulative latency histogram with buckets 5 % apart from 1 µs: enough for a
// live p99 to read at a glance, at the cost of one increment per result.
type histogram struct {
	counts [histBuckets]int64
	n      int64
}

const (
	histBuckets = 400 // 1µs · 1.05^400 ≈ 3 h: every client timeout fits
	histGrowth  = 1.05
)

func (h *histogram) add(d time.Duration) {
	i := 0
	if us := float64(d) / float64(time.Microsecond); us > 1 {
		i = min(int(math.Log(us)/math.Log(histGrowth))+1, histBuckets-1)
	}
	h.counts[i]++
	h.n++
}

// quantile returns the upper edge of the bucket holding the q-quantile.
func (h *histogram) quantile(q float64) time.Duration {
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		if seen += c; seen >= rank && c > 0 {
			return time.Duration(math.Pow(histGrowth, float64(i)) * float64(time.Microsecond))
		}
	}
	return 0
}

// Due reports whether Update would draw now, so a caller can skip building a costly Snapshot
// (a p99 from a t-digest) for every result. A nil Line is never due.
func (l *Line) Due() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last.IsZero() || l.now().Sub(l.last) >= l.every
}

// Finish draws s unconditionally and ends the line, so the next output starts on a fresh line.
func (l *Line) Finish(s Snapshot) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.draw(s, true)
	l.last = time.Time{}
	l.width = 0
}

func (l *Line) draw(s Snapshot, final bool) {
	text := Format(s)
	if !l.terminal {
		fmt.Fprintln(l.w, text)
		return
	}
	pad := ""
	if n := l.width - len(text); n > 0 {
		pad = fmt.Sprintf("%*s", n, "")
	}
	l.width = len(text)
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(l.w, "\r%s%s%s", text, pad, end)
}

// Format renders a Snapshot as the line's text, without any carriage return or newline.
func Format(s Snapshot) string {
	phase := ""
	if s.Warmup {
		phase = " (warm-up)"
	}
	return fmt.Sprintf("%-10s %6s/%-6s%s  rate %7.1f/s  requests %d  errors %d  p99 %s",
		s.Scenario, round(s.Elapsed), round(s.Total), phase, s.Rate, s.Requests, s.Errors, round(s.P99))
}

// round shortens a duration to what a person reads at a glance.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
