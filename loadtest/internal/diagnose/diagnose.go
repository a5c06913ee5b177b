// Package diagnose names why a scenario failed or was invalid: Diagnose turns the figures the
// harness already holds (Evidence) into causes from a fixed vocabulary (summary.Cause*), each
// with the figures that named it, or one "unknown" with every figure when no rule matched.
//
//	ev := diagnose.Evidence{Cores: 2, ServerCores: 1.9, ...}
//	sc.Diagnosis = diagnose.Diagnose(ev)
//
// The rules and the fault matrix that shows each one naming its fault are in docs/harness.md and
// docs/design/harness-evidence.md.
// A wrong cause is worse than "unknown": every threshold leaves a wide gap between the fault
// that should cross it and a healthy server.
package diagnose

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Evidence is what a diagnosis reads, over a scenario's attack unless said otherwise. A zero
// field is "not measured" and names nothing.
type Evidence struct {
	// Cores is how many CPUs the server may use (GOMAXPROCS, at most the machine's).
	Cores float64
	// ServerCores is the CPUs' worth of time the server's process ran (0: not measured).
	ServerCores float64
	// Runnable is the mean number of goroutines waiting for a thread.
	Runnable float64
	// SchedP99Ms is the median, over the samples, of the scheduler latency's p99.
	SchedP99Ms float64
	// GCShare is the GC's compulsory share of the server's busy CPU (idle-time marking
	// excluded); AssistShare the part of it done as mark assists. GCFrom says where they were
	// read; "" is not measured, and then neither gc nor cpu (the server's work outside GC)
	// can be named, as a share of 0 would have named cpu for a GC-bound server. Unless
	// GCNotExported: the service exports no runtime CPU classes at all (not Go, or not these
	// metrics) and gave no CPU profile, so no run of it could tell; cpu is then its whole CPU.
	GCShare, AssistShare float64
	GCFrom               string
	GCNotExported        bool
	// Samples counts the timeline's samples in the attack, ScrapesFailed those without the
	// server's metrics (its scrape failed).
	Samples, ScrapesFailed int
	// MutexWait is the time goroutines spent blocked on mutexes per second of attack, and
	// InFlight the mean number of requests the server was serving: their ratio is the share of
	// the requests' time spent waiting on a mutex.
	MutexWait, InFlight float64

	// PoolMax is the server's pool size; PoolFull the share of samples with all of it
	// acquired; PoolWait the time acquires waited for a connection per second of attack.
	PoolMax, PoolFull, PoolWait float64
	// LockWaits and IOWaits are the mean number of the server's sessions waiting on a Lock or
	// on IO in PostgreSQL; Waits the wait events they were seen in around the p99.
	LockWaits, IOWaits float64
	Waits              WaitEvidence

	// LatenessP99Ms is the generator's send lateness p99, MaxLatenessMs the bound that makes a
	// scenario INVALID; ServerP99Ms the latency p99 from the actual send (the server's answer
	// time) and SLOMs its objective.
	LatenessP99Ms, MaxLatenessMs, ServerP99Ms, SLOMs float64
	// HarnessCores is the CPUs' worth of time the harness (and its local workers) ran.
	HarnessCores float64
	// RateMissed: the generator sent fewer requests than its pacer scheduled. Far enough
	// behind, none of the counted window's requests were sent, so no lateness was measured.
	RateMissed bool

	// GoroutinesLeaked is the goroutines over the baseline (and its slack) after the settle
	// time; PoolAcquiredAfter the connections still acquired then, and InFlightAfter the
	// requests the server was still serving (a backlog, not a leak, holds those).
	GoroutinesLeaked, PoolAcquiredAfter, InFlightAfter float64

	Neighbour   NeighbourEvidence
	AcceptQueue AcceptQueueEvidence
}

// NeighbourEvidence is the run-queue delay of the benchmark's own threads while other
// processes ran (from the contention measurement, summary.Contention.Neighbour).
type NeighbourEvidence struct {
	RunQueueDelayMs float64 // the request path's run-queue delay in the window that holds the judged figure
	JudgedMs        float64 // the judged figure (e.g. the p99)
	// ForeignCPUs is the CPU processes outside the benchmark ran in that window, niced peers
	// left out (contention.Competing). Crowded: they took the CPU our threads left free
	// (contention.Crowded); without that the delay is our threads waiting for each other (a
	// saturated server), not a neighbour.
	ForeignCPUs float64
	Crowded     bool
	Moved       bool // the contention rule judged the delay large enough to move it
	// SlowWaitMs is the delay per run at least two slow requests' paths met (the contention
	// rule's figure), LimitMs the rule's limit.
	SlowWaitMs, LimitMs float64
	// SendWaitMs is the harness's send lateness p99, SendLimitMs the rule's limit for it.
	SendWaitMs, SendLimitMs float64
}

// AcceptQueueEvidence is the kernel's count of connections the server's listen queue dropped
// (ListenDrops, which counts ListenOverflows too) or reset on close (shutdown's
// accept_queue_reset class).
type AcceptQueueEvidence struct {
	Overflows, Resets int64
}

// The thresholds of the rules. Each sits between the fault matrix's faulted and healthy
// figures with room on both sides (docs/design/harness-evidence.md holds the measured figures).
const (
	cpuBusy       = 0.75 // of Cores, the server's non-GC CPU: saturated
	schedP99Ms    = 35   // a runnable goroutine's wait for a thread
	gcShare       = 0.20 // of the busy CPU
	assistShare   = 0.10
	mutexWait     = 1.0 // seconds blocked per second: one goroutine waiting all the time
	mutexShare    = 0.3 // of the requests' time in the server
	poolFull      = 0.5 // of the samples
	poolWait      = 0.5 // seconds waited per second
	dbWaits       = 0.5 // sessions waiting, on average
	neighbourPart = 0.5 // of the judged figure
	harnessBusy   = 0.5 // CPUs: a sender this busy is short of CPU on a small machine
)

// rule names one cause when the evidence shows it, with the figures that did.
type rule struct {
	cause string
	named func(Evidence) (bool, string, map[string]float64)
}

// rules are the rules in the order their causes are listed.
func rules() []rule {
	return []rule{
		{summary.CausePool, pool},
		{summary.CauseDatabase, database},
		{summary.CauseCPU, cpu},
		{summary.CauseGC, gc},
		{summary.CauseLock, lock},
		{summary.CauseAcceptQueue, acceptQueue},
		{summary.CauseNeighbour, neighbour},
		{summary.CauseGenerator, generator},
		{summary.CauseLeak, leak},
	}
}

// Diagnose returns the causes the evidence names, in a fixed order; when none, one
// summary.CauseUnknown carrying every figure.
func Diagnose(ev Evidence) []summary.Cause {
	var out []summary.Cause
	for _, r := range rules() {
		if ok, evidence, figs := r.named(ev); ok {
			out = append(out, summary.Cause{Name: r.cause, Evidence: evidence, Figures: figs})
		}
	}
	if len(out) == 0 {
		figs := ev.figures()
		evidence := "no rule matched: " + line(figs)
		if ev.Waits.waited() { // an observation, not a cause: the database rule's bar was not met
			evidence += "; seen, not a cause: PostgreSQL sessions waiting " + ev.Waits.line()
		}
		if ev.GCFrom == "" && !ev.GCNotExported && cpuBound(ev) {
			evidence += fmt.Sprintf("; the server's CPU was saturated, but the GC's share of it was not measured "+
				"(the runtime's CPU classes did not cover the attack, %d of its %d samples had no metrics, and no CPU profile "+
				"with enough samples was taken), so cpu and gc cannot be told apart",
				ev.ScrapesFailed, ev.Samples)
		}
		out = append(out, summary.Cause{Name: summary.CauseUnknown, Evidence: evidence, Figures: figs})
	}
	return out
}

// pool: every connection acquired most of the time and requests waiting for one, while the
// holders are neither waiting in PostgreSQL (then the database is the cause) nor slowed by a
// CPU the server saturates or the GC takes (then every handler, holding a connection or
// not, is slow, and the pool's queue is the effect).
func pool(ev Evidence) (bool, string, map[string]float64) {
	dbBound := ev.LockWaits+ev.IOWaits >= ev.PoolMax/2
	ok := ev.PoolMax > 0 && ev.PoolFull >= poolFull && ev.PoolWait >= poolWait && !dbBound && !starved(ev)
	return ok, fmt.Sprintf("all %.0f connections acquired in %.0f%% of samples, %.2f s waited for one per second, %.1f sessions waiting in PostgreSQL",
			ev.PoolMax, 100*ev.PoolFull, ev.PoolWait, ev.LockWaits+ev.IOWaits),
		map[string]float64{"pool_max": ev.PoolMax, "pool_full_share": ev.PoolFull, "pool_wait_s_per_s": ev.PoolWait}
}

// database: the server's sessions waited on locks or IO in PostgreSQL; the wait events seen
// in the p99's window say which.
func database(ev Evidence) (bool, string, map[string]float64) {
	return ev.LockWaits+ev.IOWaits >= dbWaits,
		fmt.Sprintf("%.1f sessions waiting on Lock and %.1f on IO on average; %s", ev.LockWaits, ev.IOWaits, ev.Waits.line()),
		map[string]float64{"db_lock_waits": ev.LockWaits, "db_io_waits": ev.IOWaits}
}

// cpu: the server's own work, not the GC's (then gc is the cause), kept its CPUs busy: it ran on most of them, or
// its goroutines queued for them (runnable, and waiting long to be scheduled) while the
// process got less of the machine than it asked for.
func cpu(ev Evidence) (bool, string, map[string]float64) {
	own := ev.ServerCores * (1 - ev.GCShare)
	gcNamed, _, _ := gc(ev)
	split := fmt.Sprintf("%.2f outside GC, from the %s", own, ev.GCFrom)
	if ev.GCFrom == "" {
		split = "its GC's share not measured: the service exports no runtime CPU classes and gave no CPU profile"
	}
	return (ev.GCFrom != "" || ev.GCNotExported) && !gcNamed && cpuBound(ev),
		fmt.Sprintf("server used %.2f of %.0f CPUs (%s), %.0f goroutines runnable, scheduling p99 %.1f ms",
			ev.ServerCores, ev.Cores, split, ev.Runnable, ev.SchedP99Ms),
		map[string]float64{"server_cpus": ev.ServerCores, "cores": ev.Cores, "runnable": ev.Runnable, "sched_p99_ms": ev.SchedP99Ms}
}

// cpuBound: the server's work outside GC (all of it, when the GC's share was not measured) kept
// most of its CPUs busy, or its goroutines queued for a thread while the process got less of
// the machine than it asked for.
func cpuBound(ev Evidence) bool {
	busy := ev.Cores > 0 && ev.ServerCores*(1-ev.GCShare) >= cpuBusy*ev.Cores
	queued := ev.Cores > 0 && ev.Runnable >= ev.Cores && ev.SchedP99Ms >= schedP99Ms
	return busy || queued
}

// starved: the CPU or the GC slowed every goroutine. A waiter's time on a mutex or for a pool
// connection then grows with its holder's, so those waits are the CPU's effect, not a cause.
func starved(ev Evidence) bool {
	gcNamed, _, _ := gc(ev)
	return gcNamed || cpuBound(ev)
}

// gc: the collector took a large share of the CPU the server used, or made it assist.
func gc(ev Evidence) (bool, string, map[string]float64) {
	return ev.GCShare >= gcShare || ev.AssistShare >= assistShare,
		fmt.Sprintf("GC %.0f%% of the server's busy CPU, assists %.0f%% (from the %s)", 100*ev.GCShare, 100*ev.AssistShare, ev.GCFrom),
		map[string]float64{"gc_share": ev.GCShare, "assist_share": ev.AssistShare}
}

// lock: the requests spent much of their time blocked on mutexes while the CPU had room. A
// contended lock serialises its holders, so it leaves CPUs idle; a starved CPU (or GC) instead
// stretches every holder's hold and its waiters' wait, and then the wait is its effect.
func lock(ev Evidence) (bool, string, map[string]float64) {
	share := 0.0
	if ev.InFlight > 0 {
		share = ev.MutexWait / ev.InFlight
	}
	return ev.MutexWait >= mutexWait && share >= mutexShare && !starved(ev),
		fmt.Sprintf("goroutines blocked on mutexes %.1f s per second, %.0f%% of the time of the %.0f requests in flight",
			ev.MutexWait, 100*share, ev.InFlight),
		map[string]float64{"mutex_wait_s_per_s": ev.MutexWait, "in_flight": ev.InFlight}
}

// acceptQueue: the kernel dropped or reset connections at the server's listen queue.
func acceptQueue(ev Evidence) (bool, string, map[string]float64) {
	a := ev.AcceptQueue
	return a.Overflows+a.Resets > 0,
		fmt.Sprintf("%d connections dropped at a full listen queue, %d reset in it", a.Overflows, a.Resets),
		map[string]float64{"overflows": float64(a.Overflows), "resets": float64(a.Resets)}
}

// neighbour: the benchmark's threads waited for a CPU, while other processes ran, long enough
// to move the judged figure. Without the other processes the wait is the server's own CPU.
func neighbour(ev Evidence) (bool, string, map[string]float64) {
	n := ev.Neighbour
	return n.Moved || (n.Crowded && n.JudgedMs > 0 && n.RunQueueDelayMs >= neighbourPart*n.JudgedMs),
		fmt.Sprintf("the paths of slow requests waited %.2f ms per run for a CPU (limit %.2f ms), 1 send in 100 waited %.2f ms (limit %.2f ms) and a request's path waited %.1f ms in the p99's window, against a judged %.1f ms, while others ran %.2f CPUs",
			n.SlowWaitMs, n.LimitMs, n.SendWaitMs, n.SendLimitMs, n.RunQueueDelayMs, n.JudgedMs, n.ForeignCPUs),
		map[string]float64{"slow_wait_ms": n.SlowWaitMs, "limit_ms": n.LimitMs, "send_wait_ms": n.SendWaitMs, "send_limit_ms": n.SendLimitMs,
			"run_queue_delay_ms": n.RunQueueDelayMs, "judged_ms": n.JudgedMs, "foreign_cpus": n.ForeignCPUs}
}

// generator: the harness sent late or too few, and either the server answered within the
// objective or the harness was itself busy enough to be the limit. A late sender with an idle
// harness is a server that held every worker: the server's causes say why.
func generator(ev Evidence) (bool, string, map[string]float64) {
	behind := ev.RateMissed || (ev.MaxLatenessMs > 0 && ev.LatenessP99Ms > ev.MaxLatenessMs)
	answered := ev.ServerP99Ms > 0 && ev.ServerP99Ms <= ev.SLOMs
	missed := 0.0
	if ev.RateMissed {
		missed = 1
	}
	return behind && (answered || ev.HarnessCores >= harnessBusy),
		fmt.Sprintf("send lateness p99 %.1f ms (bound %.0f ms), scheduled rate missed: %t; the server's p99 %.1f ms (objective %.0f ms); the harness used %.2f CPUs",
			ev.LatenessP99Ms, ev.MaxLatenessMs, ev.RateMissed, ev.ServerP99Ms, ev.SLOMs, ev.HarnessCores),
		map[string]float64{"lateness_p99_ms": ev.LatenessP99Ms, "server_p99_ms": ev.ServerP99Ms, "harness_cpus": ev.HarnessCores, "rate_missed": missed}
}

// leak: goroutines or pool connections still held after the settle time by a server that
// served no request any more (while it still serves a backlog, the two cannot be told apart).
func leak(ev Evidence) (bool, string, map[string]float64) {
	return ev.InFlightAfter == 0 && (ev.GoroutinesLeaked > 0 || ev.PoolAcquiredAfter > 0),
		fmt.Sprintf("%.0f goroutines over the baseline and %.0f connections still acquired after the settle time, no request in flight",
			ev.GoroutinesLeaked, ev.PoolAcquiredAfter),
		map[string]float64{"goroutines_leaked": ev.GoroutinesLeaked, "pool_acquired_after": ev.PoolAcquiredAfter, "in_flight_after": ev.InFlightAfter}
}

// figures is every figure of ev, by the names the rules give them.
func (ev Evidence) figures() map[string]float64 {
	all := map[string]float64{}
	for _, r := range rules() {
		_, _, figs := r.named(ev)
		maps.Copy(all, figs)
	}
	return all
}

// line is figs as "name=value" pairs in name order, zeros left out.
func line(figs map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(figs)) {
		if v := figs[k]; v != 0 {
			parts = append(parts, fmt.Sprintf("%s=%.3g", k, v))
		}
	}
	if len(parts) == 0 {
		return "no figures measured"
	}
	return strings.Join(parts, " ")
}
