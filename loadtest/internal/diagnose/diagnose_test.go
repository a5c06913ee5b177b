package diagnose

import (
	"slices"
	"strings"
	"testing"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// healthy is the evidence of a healthy steady run on the 2-core test machine (the fault
// matrix's healthy row): the baseline every case below changes.
func healthy() Evidence {
	return Evidence{Cores: 2, ServerCores: 0.12, Runnable: 3.4, SchedP99Ms: 0.9, GCShare: 0.026, AssistShare: 0.006, GCFrom: "runtime's CPU classes",
		MutexWait: 0.0004, InFlight: 1.2, PoolMax: 8, PoolWait: 0.0002, LatenessP99Ms: 3.4, MaxLatenessMs: 500,
		ServerP99Ms: 19.8, SLOMs: 100}
}

func TestDiagnose(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Evidence)
		want   []string
	}{
		{"healthy figures name nothing", func(*Evidence) {}, []string{summary.CauseUnknown}},
		{"pool 1 with held requests", func(e *Evidence) { e.PoolMax, e.PoolFull, e.PoolWait = 1, 0.89, 22 },
			[]string{summary.CausePool}},
		{"a full pool whose connections wait on locks is the database's", func(e *Evidence) {
			e.PoolFull, e.PoolWait, e.LockWaits = 1, 5, 7.4
		}, []string{summary.CauseDatabase}},
		{"a table lock", func(e *Evidence) { e.LockWaits = 7.4 }, []string{summary.CauseDatabase}},
		{"IO waits", func(e *Evidence) { e.IOWaits = 2 }, []string{summary.CauseDatabase}},
		{"a few WAL waits are not the database", func(e *Evidence) { e.IOWaits = 0.2 }, []string{summary.CauseUnknown}},
		{"CPU burn", func(e *Evidence) {
			e.ServerCores, e.Runnable, e.SchedP99Ms, e.MutexWait, e.InFlight, e.PoolWait = 1.78, 34, 117, 9.8, 500, 11
		}, []string{summary.CauseCPU}},
		{"CPU burn while the process got less of the machine", func(e *Evidence) {
			e.ServerCores, e.Runnable, e.SchedP99Ms = 0.75, 16.5, 117
		}, []string{summary.CauseCPU}},
		{"runnable goroutines scheduled quickly are not a CPU limit", func(e *Evidence) { e.Runnable, e.SchedP99Ms = 5, 10.5 },
			[]string{summary.CauseUnknown}},
		{"alloc storm: the GC, not the CPU", func(e *Evidence) {
			e.GCShare, e.AssistShare, e.ServerCores, e.Runnable, e.SchedP99Ms = 0.35, 0.22, 1.04, 17, 117
		}, []string{summary.CauseGC}},
		// CI's alloc storm of 87dbd3f: every metrics reading in the attack failed, the GC's share
		// read 0 and cpu said "1.79 outside GC".
		{"a saturated CPU whose GC share was not measured names neither cpu nor gc", func(e *Evidence) {
			e.GCShare, e.AssistShare, e.GCFrom, e.ServerCores, e.Samples, e.ScrapesFailed = 0, 0, "", 1.79, 50, 50
		}, []string{summary.CauseUnknown}},
		{"queued goroutines whose GC share was not measured name neither cpu nor gc", func(e *Evidence) {
			e.GCShare, e.AssistShare, e.GCFrom, e.Runnable, e.SchedP99Ms = 0, 0, "", 17, 117
		}, []string{summary.CauseUnknown}},
		{"a saturated CPU of a service that exports no GC figures is cpu", func(e *Evidence) {
			e.GCShare, e.AssistShare, e.GCFrom, e.GCNotExported, e.ServerCores = 0, 0, "", true, 1.79
		}, []string{summary.CauseCPU}},
		{"assists alone", func(e *Evidence) { e.AssistShare = 0.15 }, []string{summary.CauseGC}},
		{"lock contention", func(e *Evidence) {
			e.MutexWait, e.InFlight, e.ServerCores, e.Runnable, e.SchedP99Ms = 358, 420, 1.05, 4.9, 10.5
		}, []string{summary.CauseLock}},
		// The wrong extra causes of the fault matrix before the rules told cause from effect
		// (docs/harness.md): under a starved CPU or GC, holders hold longer and waiters wait.
		{"CPU burn with a few requests in flight waiting on locks is the CPU's", func(e *Evidence) {
			e.ServerCores, e.Runnable, e.SchedP99Ms, e.MutexWait, e.InFlight = 1.82, 28, 110, 21, 48
		}, []string{summary.CauseCPU}},
		{"CPU burn queued for threads, locks waited on", func(e *Evidence) {
			e.ServerCores, e.Runnable, e.SchedP99Ms, e.MutexWait, e.InFlight = 0.9, 22, 95, 12, 30
		}, []string{summary.CauseCPU}},
		{"alloc storm with mutex and pool waits is the GC's", func(e *Evidence) {
			e.GCShare, e.AssistShare, e.ServerCores, e.Runnable, e.SchedP99Ms = 0.33, 0.2, 1.1, 17, 117
			e.MutexWait, e.InFlight, e.PoolFull, e.PoolWait = 14, 35, 0.6, 3.5
		}, []string{summary.CauseGC}},
		{"a full pool while the CPU has room is the pool", func(e *Evidence) {
			e.ServerCores, e.PoolFull, e.PoolWait = 0.9, 0.7, 4
		}, []string{summary.CausePool}},
		{"mutex wait small beside the requests in flight", func(e *Evidence) { e.MutexWait, e.InFlight = 9.8, 500 },
			[]string{summary.CauseUnknown}},
		{"accept queue overflows", func(e *Evidence) { e.AcceptQueue.Overflows = 3 }, []string{summary.CauseAcceptQueue}},
		{"accept queue resets", func(e *Evidence) { e.AcceptQueue.Resets = 1 }, []string{summary.CauseAcceptQueue}},
		{"a neighbour that moved the judged figure", func(e *Evidence) { e.Neighbour.Moved = true }, []string{summary.CauseNeighbour}},
		{"run-queue delay over half the judged figure while others took the free CPU", func(e *Evidence) {
			e.Neighbour = NeighbourEvidence{RunQueueDelayMs: 30, JudgedMs: 40, ForeignCPUs: 1.8, Crowded: true}
		}, []string{summary.CauseNeighbour}},
		{"run-queue delay while others ran but left a CPU free", func(e *Evidence) {
			e.Neighbour = NeighbourEvidence{RunQueueDelayMs: 30, JudgedMs: 40, ForeignCPUs: 0.8}
		}, []string{summary.CauseUnknown}},
		{"a little run-queue delay", func(e *Evidence) { e.Neighbour = NeighbourEvidence{RunQueueDelayMs: 5, JudgedMs: 40} },
			[]string{summary.CauseUnknown}},
		{"a generator that fell behind", func(e *Evidence) { e.LatenessP99Ms = 600 }, []string{summary.CauseGenerator}},
		{"late sends beside a slow server are not the generator's", func(e *Evidence) { e.LatenessP99Ms, e.ServerP99Ms = 600, 900 },
			[]string{summary.CauseUnknown}},
		{"late sends from a harness short of CPU beside a slow server are the generator's", func(e *Evidence) {
			e.LatenessP99Ms, e.ServerP99Ms, e.HarnessCores = 600, 900, 0.9
		}, []string{summary.CauseGenerator}},
		{"a harness short of CPU that sent none of the counted window is the generator", func(e *Evidence) {
			e.RateMissed, e.LatenessP99Ms, e.ServerP99Ms, e.HarnessCores = true, 0, 0, 0.87
		}, []string{summary.CauseGenerator}},
		{"too few sent by an idle harness to a server that answered nothing names no generator", func(e *Evidence) {
			e.RateMissed, e.LatenessP99Ms, e.ServerP99Ms = true, 0, 0
		}, []string{summary.CauseUnknown}},
		{"leaked goroutines", func(e *Evidence) { e.GoroutinesLeaked = 119 }, []string{summary.CauseLeak}},
		{"a connection not returned", func(e *Evidence) { e.PoolAcquiredAfter = 1 }, []string{summary.CauseLeak}},
		{"a backlog still served is not a leak", func(e *Evidence) {
			e.GoroutinesLeaked, e.PoolAcquiredAfter, e.InFlightAfter = 439, 8, 200
		}, []string{summary.CauseUnknown}},
		{"two causes at once", func(e *Evidence) { e.LockWaits, e.GoroutinesLeaked = 3, 50 },
			[]string{summary.CauseDatabase, summary.CauseLeak}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := healthy()
			tt.change(&ev)
			got := Diagnose(ev)
			var names []string
			for _, c := range got {
				names = append(names, c.Name)
				if c.Evidence == "" || len(c.Figures) == 0 {
					t.Errorf("%s carries no evidence: %+v", c.Name, c)
				}
			}
			if !slices.Equal(names, tt.want) {
				t.Fatalf("Diagnose = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestUnknownCarriesTheFigures: with no rule matched, the figures are still given, so that a
// reader sees how close each rule came.
func TestUnknownCarriesTheFigures(t *testing.T) {
	got := Diagnose(healthy())
	if len(got) != 1 || got[0].Figures["server_cpus"] != 0.12 || !strings.Contains(got[0].Evidence, "sched_p99_ms=0.9") {
		t.Fatalf("unknown = %+v, want every figure (server_cpus 0.12, sched_p99_ms 0.9)", got)
	}
}

// TestUnknownSaysTheGCWasNotMeasured: a saturated CPU named neither cpu nor gc says why.
func TestUnknownSaysTheGCWasNotMeasured(t *testing.T) {
	ev := healthy()
	ev.GCShare, ev.GCFrom, ev.ServerCores, ev.Samples, ev.ScrapesFailed = 0, "", 1.79, 50, 40
	got := Diagnose(ev)
	if len(got) != 1 || !strings.Contains(got[0].Evidence, "GC's share of it was not measured") ||
		!strings.Contains(got[0].Evidence, "40 of its 50 samples had no metrics") {
		t.Fatalf("Diagnose = %+v, want unknown saying the GC's share was not measured, 40 of 50 samples without metrics", got)
	}
}

// TestVocabulary: every rule names a cause of the fixed vocabulary, once.
func TestVocabulary(t *testing.T) {
	vocabulary := []string{summary.CausePool, summary.CauseCPU, summary.CauseGC, summary.CauseLock, summary.CauseDatabase,
		summary.CauseAcceptQueue, summary.CauseGenerator, summary.CauseNeighbour, summary.CauseLeak}
	var seen []string
	for _, r := range rules() {
		if !slices.Contains(vocabulary, r.cause) || slices.Contains(seen, r.cause) {
			t.Errorf("rule for %q: not in the vocabulary, or twice", r.cause)
		}
		seen = append(seen, r.cause)
	}
	if len(seen) != len(vocabulary) {
		t.Errorf("rules name %v, want every cause of %v", seen, vocabulary)
	}
}

// TestWaitEvents: the database cause names the wait events seen in the p99's window, the most
// often seen first; with no rule matched, waits seen there are told as an observation, and a
// healthy run's single ClientRead names no cause.
func TestWaitEvents(t *testing.T) {
	tableLock := WaitEvidence{WindowStartMs: 3000, Samples: 10,
		Seen: map[string]int{"Lock:relation": 9, "IO:WALSync": 1, "LWLock:WALWrite": 1, "IO:DataFileRead": 2, "Client:ClientRead": 1},
		Peak: map[string]int{"Lock:relation": 12, "IO:WALSync": 1, "LWLock:WALWrite": 2, "IO:DataFileRead": 1, "Client:ClientRead": 1}}
	oneRead := WaitEvidence{WindowStartMs: 12000, Samples: 11, Seen: map[string]int{"Client:ClientRead": 1}, Peak: map[string]int{"Client:ClientRead": 1}}
	tests := []struct {
		name   string
		change func(*Evidence)
		cause  string
		want   string // the cause's evidence ends with it
	}{
		{"a table lock names its event", func(e *Evidence) { e.LockWaits, e.Waits = 7.4, tableLock }, summary.CauseDatabase,
			"7.4 sessions waiting on Lock and 0.0 on IO on average; in the p99's window at 3 s (10 samples): " +
				"Lock:relation in 9 (up to 12 sessions), IO:DataFileRead in 2 (up to 1 session), LWLock:WALWrite in 1 (up to 2 sessions), 2 more"},
		{"waits on average, none in the p99's window", func(e *Evidence) {
			e.IOWaits, e.Waits = 2, WaitEvidence{WindowStartMs: 5000, Samples: 10}
		}, summary.CauseDatabase, "0.0 sessions waiting on Lock and 2.0 on IO on average; no session seen waiting in the p99's window at 5 s (10 samples)"},
		{"one ClientRead in a healthy run is an observation, not a cause", func(e *Evidence) { e.Waits = oneRead }, summary.CauseUnknown,
			"; seen, not a cause: PostgreSQL sessions waiting in the p99's window at 12 s (11 samples): Client:ClientRead in 1 (up to 1 session)"},
		{"brief waits below the bar are an observation", func(e *Evidence) { e.IOWaits, e.Waits = 0.2, tableLock }, summary.CauseUnknown,
			"; seen, not a cause: PostgreSQL sessions waiting in the p99's window at 3 s (10 samples): " +
				"Lock:relation in 9 (up to 12 sessions), IO:DataFileRead in 2 (up to 1 session), LWLock:WALWrite in 1 (up to 2 sessions), 2 more"},
		{"no wait seen: the unknown line says nothing of PostgreSQL", func(e *Evidence) { e.Waits = WaitEvidence{Samples: 10} }, summary.CauseUnknown,
			"server_cpus=0.12 server_p99_ms=19.8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := healthy()
			tt.change(&ev)
			got := Diagnose(ev)
			if len(got) != 1 || got[0].Name != tt.cause || !strings.HasSuffix(got[0].Evidence, tt.want) {
				t.Fatalf("Diagnose = %+v\nwant one %s whose evidence ends %q", got, tt.cause, tt.want)
			}
		})
	}
}
