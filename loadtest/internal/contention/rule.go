package contention

import (
	"math"
	"slices"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// MinForeignCPUs is how much CPU processes outside the benchmark must have run in the window
// for its wait to be a neighbour's: below it our threads waited for each other (the harness and
// the server sharing the cores), which is the generator's or the server's limit, not the
// machine's.
const MinForeignCPUs = 0.1

// pathRuns is how many times, by role, a request's work has to be given a CPU after waiting for
// something: the server reads the request and then the query's answer, the PostgreSQL backend
// reads the query, the harness sends and then reads the response. Summing every thread's wait
// instead would count the threads off the request's path (the GC's, the runtime's, the
// sampler's) and would call waits that overlap in time a request's.
var pathRuns = [roles]float64{Server: 2, Database: 1, Harness: 2}

// PathDelay is the run-queue delay a request's path accrues in w: each role's mean delay per
// run times the runs on the path.
func PathDelay(w summary.ContentionWindow) float64 {
	return pathDelay(w.DelayPerRunMs)
}

func pathDelay(perRun [roles]float64) float64 {
	var d float64
	for r, n := range pathRuns {
		d += n * perRun[r]
	}
	return d
}

// delayPerRunMs is, per role, one reading's mean run-queue delay per run.
func (p Point) delayPerRunMs() [roles]float64 {
	var perRun [roles]float64
	for r := range roles {
		if p.Slices[r] > 0 {
			perRun[r] = ms(p.Wait[r]) / float64(p.Slices[r])
		}
	}
	return perRun
}

// SlowWakeups is the share of the wake-ups in h that waited longer than waitMs, counted from
// the smallest bound at or above waitMs (returned): a wait in a bucket that straddles waitMs is
// not counted, so the share errs low. 0 when h is empty or has no such bound.
func SlowWakeups(h *summary.SchedHistogram, waitMs float64) (share, boundMs float64) {
	if h == nil || h.Total == 0 {
		return 0, 0
	}
	for i, b := range h.BoundsMs {
		if b >= waitMs {
			return float64(h.Total-min(h.Counts[i], h.Total)) / float64(h.Total), b
		}
	}
	return 0, 0
}

// SlowRequests is the share of requests that meet at least one slow wake-up when a share
// slow of all wake-ups are slow and a request needs runs of them, independently.
func SlowRequests(slow, runs float64) float64 {
	return 1 - math.Pow(1-slow, runs)
}

// Neighbour applies the contention rule to c, whose windows are the scenario's, for the judged
// p99 judgedMs. It finds the window that holds the p99 (the one with the highest p99) and there
// the highest delay per run of any role in any reading (PeakDelayPerRunMs): a wait at least one
// run on a request's path met. Moved when others ran in that window and that wait is at least
// maxShare of the judged p99: a neighbour held a CPU from us for that share of the figure.
// maxShare ≤ 0 never moves. The path delay (a sum of means, which many short waits of a
// preempted nice neighbour fill) and the server's slow goroutine wake-ups are reported, not
// judged.
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
	n.WindowStartMs, n.RunQueueDelayMs = w.StartMs, w.PathDelayMs
	n.SlowWakeups, n.TailWaitMs = SlowWakeups(w.Sched, maxShare*judgedMs)
	n.SlowRequests = SlowRequests(n.SlowWakeups, pathRuns[Server])
	n.PeakDelayMs = slices.Max(w.PeakDelayPerRunMs[:])
	moved := n.PeakDelayMs >= maxShare*judgedMs
	n.Moved = maxShare > 0 && judgedMs > 0 && w.ForeignCPUs >= MinForeignCPUs && moved
	return n
}
