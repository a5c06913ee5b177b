package contention

import (
	"cmp"
	"math"
	"slices"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// FreeCPUs is how much of the machine must stay free for our threads' wake-ups to find a CPU
// (half of it on a single CPU). A waking thread waits in a run queue only when no CPU is idle,
// so a neighbour can hold one of ours only when, with it, less than that was free; and it is
// the neighbour's doing only when our threads alone left that much free (else it is the
// server's or the generator's own limit, which other causes name).
const FreeCPUs = 1.0

// Crowded reports whether others (competing CPUs, niced peers left out) took the CPU our
// threads (ours) left free on a machine of cpus.
func Crowded(ours, competing float64, cpus int) bool {
	room := float64(cpus) - min(FreeCPUs, float64(cpus)/2)
	return cpus > 0 && ours <= room && ours+competing > room
}

// CrowdedIn is Crowded in the window w.
func CrowdedIn(w summary.ContentionWindow, cpus int) bool {
	return Crowded(w.RunMs/windowMs, Competing(w), cpus)
}

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

// SendFloorMs is the least send lateness p99 the rule counts, however small the judged
// figure: the tail of this machine's own wake-ups with nothing beside the benchmark
// (docs/design/harness-evidence.md, "Contention: measured").
const SendFloorMs = 1.0

// Neighbour applies the contention rule to the readings points, laid over the scenario's
// windows in c, for the judged p99 judgedMs (from the intended send time), the send lateness
// p99 lateMs and the slowest requests. Only when others crowded the machine (Crowded), it is
// moved by either of two waits, each held against maxShare of the judged p99; maxShare ≤ 0
// never moves.
//
//   - slow: the p99 is made by the slowest requests, so the rule asks what they met. For each,
//     the readings that overlap its span (send to answer) give the longest wait on its path
//     (onPath); the wait at least SlowMet of them met counts, crowding read in the second the
//     request that sets it was sent. It sees a neighbour that holds a thread of ours for a
//     slice.
//   - send: the send lateness p99, at least SendFloorMs, crowding read over the attack. A send
//     is a wake-up of the harness, and a request's path holds five (pathRuns): when one in a
//     hundred waits that long, about one request in twenty meets such a wait, so the p99
//     carries it. It sees a neighbour that makes every wake-up wait a little, which a thread's
//     mean over a quarter second hides.
//
// The p99's window, its path delay and worst quarter second are reported, not judged.
func Neighbour(points []Point, c summary.Contention, slowest []summary.Request, judgedMs, lateMs, maxShare float64) summary.Neighbour {
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
	n.CPUs = c.CPUs
	for _, w := range c.Windows {
		if n.SlowAtMs >= w.StartMs && n.SlowAtMs < w.StartMs+windowMs {
			n.SlowForeignCPUs, n.SlowNicedCPUs, n.SlowOurCPUs = w.ForeignCPUs, w.NicedCPUs, w.RunMs/windowMs
		}
	}
	n.SendWaitMs, n.SendLimitMs = lateMs, max(n.LimitMs, SendFloorMs)
	n.OurCPUs, n.CompetingCPUs = means(c.Windows)
	checked := maxShare > 0 && judgedMs > 0
	switch {
	case checked && Crowded(n.SlowOurCPUs, max(n.SlowForeignCPUs-n.SlowNicedCPUs, 0), n.CPUs) && n.SlowWaitMs >= n.LimitMs:
		n.MovedBy = "slow"
	case checked && Crowded(n.OurCPUs, n.CompetingCPUs, n.CPUs) && n.SendWaitMs >= n.SendLimitMs:
		n.MovedBy = "send"
	}
	n.Moved = n.MovedBy != ""
	return n
}

// means are the CPUs our threads ran and others ran (Competing), each a mean over the windows
// that hold requests.
func means(windows []summary.ContentionWindow) (ours, competing float64) {
	var n float64
	for _, w := range windows {
		if w.Requests > 0 {
			ours += w.RunMs / windowMs
			competing += Competing(w)
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return ours / n, competing / n
}
