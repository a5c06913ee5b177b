package contention

import (
	"cmp"
	"math"
	"slices"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// MinForeignCPUs is how much CPU processes outside the benchmark must have run in the window,
// niced peers left out (Competing), for its wait to be a neighbour's: below it our threads
// waited for each other (the harness and the server sharing the cores), which is the
// generator's or the server's limit, not the machine's.
const MinForeignCPUs = 0.1

// Competing is the CPU processes outside the benchmark ran in w, the low-priority peers
// (NicedGap) left out: a waking thread of ours preempts such a process, so it runs on the CPU
// time ours do not want and holds none from them.
func Competing(w summary.ContentionWindow) float64 {
	return max(w.ForeignCPUs-w.NicedCPUs, 0)
}

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

// roleNames are the roles as the check and summary.json name them.
var roleNames = [roles]string{Server: "server", Database: "database", Harness: "harness"}

// SlowMet is how many of the slowest requests must have met the wait: one is the maximum, not
// the p99 (docs/design/harness-evidence.md, "Contention").
const SlowMet = 2

// onPath is what a reading says a request on its path waited at the role's hop (ms): the worst
// thread's mean delay per run for the server and its backends, whose threads carry requests,
// but the harness's mean over all its runs: its threads also take this monitor's and the
// sampler's readings, on no request's path, and Go moves a goroutine queued behind a waiting
// thread to another.
func onPath(p Point, r Role) float64 {
	if r != Harness {
		return p.Worst[r]
	}
	if p.Slices[r] == 0 {
		return 0
	}
	return ms(p.Wait[r]) / float64(p.Slices[r])
}

// Neighbour applies the contention rule to the readings points, laid over the scenario's
// windows in c, for the judged p99 judgedMs and the slowest requests: the p99 is made by the
// slowest requests, so the rule asks what they met. For each, the readings that overlap its span
// (send to answer) give the longest wait on its path (onPath); the wait at least SlowMet of them
// met is the rule's figure. Moved when it is at least maxShare of the judged p99 and others ran
// in the window the request that sets it was sent in: a neighbour held a CPU from the paths of
// slow requests for that share of the figure. Below MinForeignCPUs (of others, niced peers left
// out: Competing) our threads waited for each other (the server's or the generator's limit, not
// a neighbour's). maxShare ≤ 0 never moves. The p99's window, its path delay and worst quarter
// second are reported, not judged.
func Neighbour(points []Point, c summary.Contention, slowest []summary.Request, judgedMs, maxShare float64) summary.Neighbour {
	n := summary.Neighbour{JudgedMs: judgedMs, LimitMs: maxShare * judgedMs, SlowRequestsSeen: len(slowest)}
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
	type met struct {
		waitMs, atMs float64
		role         string
	}
	var mets []met
	for _, r := range slowest {
		from, to := r.OffsetMs, r.OffsetMs+max(r.LatencyMs, 0)
		m := met{atMs: r.OffsetMs}
		for _, p := range points {
			if p.OffsetMs-p.SpanMs >= to || p.OffsetMs <= from {
				continue
			}
			for role := range roles {
				if d := onPath(p, Role(role)); d > m.waitMs {
					m.waitMs, m.role = d, roleNames[role]
				}
			}
		}
		mets = append(mets, m)
	}
	slices.SortStableFunc(mets, func(a, b met) int { return cmp.Compare(b.waitMs, a.waitMs) })
	if len(mets) >= SlowMet {
		m := mets[SlowMet-1]
		n.SlowWaitMs, n.SlowAtMs, n.SlowRole = m.waitMs, m.atMs, m.role
	}
	for _, w := range c.Windows {
		if n.SlowAtMs >= w.StartMs && n.SlowAtMs < w.StartMs+windowMs {
			n.SlowForeignCPUs, n.SlowNicedCPUs = w.ForeignCPUs, w.NicedCPUs
		}
	}
	competing := max(n.SlowForeignCPUs-n.SlowNicedCPUs, 0)
	n.Moved = maxShare > 0 && judgedMs > 0 && competing >= MinForeignCPUs && n.SlowWaitMs >= n.LimitMs
	return n
}
