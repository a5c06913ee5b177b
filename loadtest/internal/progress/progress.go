// Package progress draws the one live line a scenario shows while it attacks: scenario,
// elapsed/total, rate, errors and p99 so far.
//
// On a terminal the line is redrawn in place with a carriage return a few times a second; on
// anything else (a CI log, a pipe) it prints a plain line every few seconds instead, because a log
// full of carriage returns is unreadable and one line per result would drown everything else.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
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
	Warmup   bool          // still in the warm-up (nothing counted yet)
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
