package contention

import "github.com/benchharness/benchharness/loadtest/internal/summary"

// minForeignCPUs is how much CPU processes outside the benchmark must have run in the window
// for its wait to be a neighbour's: below it our threads waited for each other (the harness and
// the server sharing the cores), which is the generator's or the server's limit, not the
// machine's.
const minForeignCPUs = 0.1

// Neighbour applies the contention rule to c, whose windows are the scenario's, for the judged
// p99 judgedMs. It finds the window that holds the p99 (the one with the highest p99) and the
// run-queue delay our threads that ran there accrued, per request: the mean time a request's
// work sat runnable with no CPU. Moved when others ran in that window and that delay is at least
// maxShare of the judged p99: the slow requests waited at least that much, so the figure moved
// by at least that share. maxShare ≤ 0 never moves.
func Neighbour(c summary.Contention, judgedMs, maxShare float64) summary.Neighbour {
	n := summary.Neighbour{JudgedMs: judgedMs}
	at := -1
	for i, w := range c.Windows {
		if w.Requests > 0 && (at < 0 || w.P99Ms > c.Windows[at].P99Ms) {
			at = i
		}
	}
	if at < 0 {
		return n
	}
	w := c.Windows[at]
	n.WindowStartMs, n.RunQueueDelayMs = w.StartMs, w.PerRequestWaitMs
	n.Moved = maxShare > 0 && judgedMs > 0 && w.ForeignCPUs >= minForeignCPUs && n.RunQueueDelayMs >= maxShare*judgedMs
	return n
}
