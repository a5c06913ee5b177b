package scenario

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/contention"
	"github.com/benchharness/benchharness/loadtest/internal/diagnose"
	"github.com/benchharness/benchharness/loadtest/internal/profile"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// diagnosis names the causes of a FAIL or INVALID (nil otherwise) from what the scenario
// already holds: its figures, its timeline and the server's CPU time.
func diagnosis(l *Live, run attackRun, sc *summary.Scenario) []summary.Cause {
	if sc.Verdict != summary.Fail && sc.Verdict != summary.Invalid {
		return nil
	}
	return diagnose.Diagnose(evidence(l, run, sc))
}

// evidence gathers the diagnosis's figures over the attack (warm-up included: the fault was on
// then too). Counters are read as the rise between the last sample before the attack and the
// last one in it; the runtime's CPU classes, updated only at GC, up to the last sample taken.
func evidence(l *Live, run attackRun, sc *summary.Scenario) diagnose.Evidence {
	start, end := l.Offset(l.attackStart), l.Offset(l.attackEnd)
	secs := l.attackEnd.Sub(l.attackStart).Seconds()
	var base, last, final, after summary.Sample
	var in []summary.Sample
	haveBase := false
	for _, s := range sc.Timeline {
		if s.ScrapeFailed {
			continue
		}
		switch {
		case s.OffsetMs <= start || !haveBase:
			base, haveBase = s, true
		case s.OffsetMs <= end:
			in, last = append(in, s), s
		}
		if s.OffsetMs > end {
			after = s
		}
		final = s
	}
	ev := diagnose.Evidence{
		LatenessP99Ms:     sc.SendLateness.P99,
		MaxLatenessMs:     summary.Ms(cmpOr(l.Settings.MaxLateness, attack.DefaultMaxLatenessP99)),
		ServerP99Ms:       sc.Latency.P99,
		SLOMs:             summary.Ms(l.Settings.SLOP99),
		GoroutinesLeaked:  max(0, sc.Server.GoroutinesAfter-sc.Server.GoroutinesBaseline-l.Settings.GoroutineSlack),
		PoolAcquiredAfter: acquiredAfter(sc, end),
		InFlightAfter:     after.InFlight,
	}
	ev.Neighbour, ev.AcceptQueue = neighbourEvidence(sc.Contention), acceptQueueEvidence(sc)
	ev.Waits = waitEvidence(sc)
	ev.RateMissed = slices.ContainsFunc(sc.Checks, func(c summary.Check) bool { return c.Name == attack.RateCheck && !c.Pass })
	if run.cpuMeasured && secs > 0 {
		ev.Cores, ev.ServerCores = float64(runtime.NumCPU()), run.cpu.Server.Seconds()/secs
		ev.HarnessCores = run.cpu.Harness.Seconds() / secs
	}
	for _, s := range sc.Timeline {
		if s.OffsetMs > start && s.OffsetMs <= end {
			ev.Samples++
			if s.ScrapeFailed {
				ev.ScrapesFailed++
			}
		}
	}
	ev.GCShare, ev.AssistShare, ev.GCFrom = gcShares(l.Dir, run, sc, base, final)
	ev.GCNotExported = ev.GCFrom == "" && !slices.ContainsFunc(sc.Timeline, func(s summary.Sample) bool { return s.GoCPUTotal > 0 })
	if len(in) == 0 || secs <= 0 {
		return ev
	}
	var full int
	var sched []float64
	for _, s := range in {
		ev.Runnable += s.Runnable / float64(len(in))
		ev.InFlight += s.InFlight / float64(len(in))
		ev.LockWaits += s.DBLockWaits / float64(len(in))
		ev.IOWaits += s.DBIOWaits / float64(len(in))
		ev.PoolMax = max(ev.PoolMax, s.PoolMax)
		if s.PoolMax > 0 && s.PoolAcquired >= s.PoolMax {
			full++
		}
		sched = append(sched, s.SchedP99Ms)
	}
	ev.PoolFull = float64(full) / float64(len(in))
	ev.SchedP99Ms = median(sched)
	ev.PoolWait = (last.PoolWaitTotal - base.PoolWaitTotal) / secs
	ev.MutexWait = (last.MutexWaitTotal - base.MutexWaitTotal) / secs
	return ev
}

// The GC's share is read from the runtime's CPU classes when the busy time they count between
// two samples is at least classesCover of the server's CPU time in the attack (the classes move
// only when a GC cycle ends, and a scrape can fail), else from the CPU profile when it rests on
// at least minProfileSamples (a second of one busy core).
const (
	classesCover      = 0.5
	minProfileSamples = 100
)

// gcShares is the GC's and its assists' share of the server's busy CPU and where they were
// read ("": not measured).
func gcShares(dir string, run attackRun, sc *summary.Scenario, base, final summary.Sample) (gcShare, assistShare float64, from string) {
	idleMark := final.GCIdleMarkTotal - base.GCIdleMarkTotal
	busy := (final.GoCPUTotal - base.GoCPUTotal) - (final.GoCPUIdleTotal - base.GoCPUIdleTotal) - idleMark
	need := 0.0
	if run.cpuMeasured {
		need = classesCover * run.cpu.Server.Seconds()
	}
	if busy > 0 && busy >= need {
		return (final.GCCPUTotal - base.GCCPUTotal - idleMark) / busy, (final.GCAssistTotal - base.GCAssistTotal) / busy,
			"runtime's CPU classes"
	}
	i := slices.IndexFunc(sc.Profiles, func(p summary.Profile) bool { return p.Kind == "cpu" })
	if i < 0 {
		return 0, 0, ""
	}
	c, err := profile.ReadCPU(filepath.Join(dir, sc.Profiles[i].File))
	if err != nil {
		return 0, 0, ""
	}
	g := c.GC()
	if g.Samples < minProfileSamples {
		return 0, 0, ""
	}
	return g.Share, g.AssistShare, fmt.Sprintf("CPU profile, %d samples", g.Samples)
}

// neighbourEvidence is the contention check's finding in the window of the judged figure
// (zero when contention was not measured).
func neighbourEvidence(c *summary.Contention) diagnose.NeighbourEvidence {
	if c == nil {
		return diagnose.NeighbourEvidence{}
	}
	n := c.Neighbour
	w := windowAt(c, n.WindowStartMs)
	return diagnose.NeighbourEvidence{RunQueueDelayMs: n.RunQueueDelayMs, JudgedMs: n.JudgedMs,
		ForeignCPUs: contention.Competing(w), Crowded: contention.CrowdedIn(w, c.CPUs), Moved: n.Moved,
		SlowWaitMs: n.SlowWaitMs, LimitMs: n.LimitMs, SendWaitMs: n.SendWaitMs, SendLimitMs: n.SendLimitMs}
}

// waitEvidence counts the PostgreSQL wait events of the server's sessions in the samples of
// the window that holds the p99 (the one-second window of highest p99, as the contention rule
// picks it). The window's span is stretched by its p99: a request sent at its end and stalled
// was still waiting that long after.
func waitEvidence(sc *summary.Scenario) diagnose.WaitEvidence {
	at := -1
	for i, w := range sc.Windows {
		if w.Requests > 0 && (at < 0 || w.P99 > sc.Windows[at].P99) {
			at = i
		}
	}
	if at < 0 {
		return diagnose.WaitEvidence{}
	}
	const windowMs = 1000 // a window is one second (attack's windowIndex)
	w := sc.Windows[at]
	ev := diagnose.WaitEvidence{WindowStartMs: w.StartMs, Seen: map[string]int{}, Peak: map[string]int{}}
	for _, s := range sc.Timeline {
		if s.DBQueryFailed || s.OffsetMs < w.StartMs || s.OffsetMs >= w.StartMs+windowMs+w.P99 {
			continue
		}
		ev.Samples++
		for e, n := range s.DBWaits {
			ev.Seen[e]++
			ev.Peak[e] = max(ev.Peak[e], n)
		}
	}
	return ev
}

// acceptQueueEvidence is the connections the kernel dropped at the server's full listen queue
// and the requests shutdown found reset in it. The drop counters are the namespace's: when it
// is shared with other programs they count the server's drops only if its own queue was seen
// full (a neighbour's overflow must not name this server's queue).
func acceptQueueEvidence(sc *summary.Scenario) diagnose.AcceptQueueEvidence {
	var a diagnose.AcceptQueueEvidence
	if n := sc.Net; n != nil {
		own := !n.SharedNamespace || (n.AcceptQueueLimit > 0 && n.AcceptQueuePeak >= n.AcceptQueueLimit)
		if own {
			a.Overflows = max(n.Counters["ListenDrops"], n.Counters["ListenOverflows"])
		}
	}
	if sc.Shutdown != nil {
		a.Resets = sc.Shutdown.Classes[AcceptQueueReset]
	}
	return a
}

// acquiredAfter is the pool connections still acquired in the last sample, taken at the end of
// the settle time, when it is past the attack's end and the server was still serving (0 when
// there is none).
func acquiredAfter(sc *summary.Scenario, endMs float64) float64 {
	if sc.Cancel != nil {
		return sc.Cancel.PoolAcquiredAfter
	}
	n := 0.0
	for _, s := range sc.Timeline {
		if !s.ScrapeFailed && s.ServerState == "ready" && s.OffsetMs > endMs {
			n = s.PoolAcquired
		}
	}
	return n
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	return v[len(v)/2]
}
