package diagnose

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// WaitEvidence is what the server's PostgreSQL sessions waited on in the window that holds the
// p99 (summary.Sample.DBWaits over the samples read in it). It names the events of a database
// cause and, when no rule matched, is told as an observation: one sample of ClientRead or a
// brief IO wait is normal, so it never names a cause by itself.
type WaitEvidence struct {
	WindowStartMs float64        // the window's start, from the scenario's start
	Samples       int            // the samples of pg_stat_activity read in the window
	Seen          map[string]int // wait event ("Lock:transactionid") → samples it was seen in
	Peak          map[string]int // wait event → most sessions seen in it at one sample
}

// maxWaitEvents bounds the events a line names: the dominant ones say what the stall was.
const maxWaitEvents = 3

// waited reports whether any session was seen waiting in the window.
func (w WaitEvidence) waited() bool { return len(w.Seen) > 0 }

// line names the dominant wait events, most often seen first, e.g. "in the p99's window at
// 12 s (10 samples): Lock:transactionid in 9 (up to 4 sessions)".
func (w WaitEvidence) line() string {
	where := fmt.Sprintf("in the p99's window at %.0f s (%d samples)", w.WindowStartMs/1000, w.Samples)
	if w.Samples == 0 {
		return "pg_stat_activity not read in the p99's window"
	}
	if !w.waited() {
		return "no session seen waiting " + where
	}
	events := slices.SortedFunc(maps.Keys(w.Seen), func(a, b string) int {
		return cmp.Or(cmp.Compare(w.Seen[b], w.Seen[a]), cmp.Compare(w.Peak[b], w.Peak[a]), cmp.Compare(a, b))
	})
	parts := make([]string, 0, maxWaitEvents+1)
	for _, e := range events[:min(len(events), maxWaitEvents)] {
		sessions := "sessions"
		if w.Peak[e] == 1 {
			sessions = "session"
		}
		parts = append(parts, fmt.Sprintf("%s in %d (up to %d %s)", e, w.Seen[e], w.Peak[e], sessions))
	}
	if n := len(events) - maxWaitEvents; n > 0 {
		parts = append(parts, fmt.Sprintf("%d more", n))
	}
	return where + ": " + strings.Join(parts, ", ")
}
