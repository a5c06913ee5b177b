package attack

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// TestShardPacerIsTheOneSchedule runs vegeta's own Pace for each of N shards (instant sends)
// and checks that their send times, put back in sequence-number order, are the single
// pacer's: one schedule, split, not N schedules. IntendedOffset of a shard's hit is the one
// process's for the hit's global number.
func TestShardPacerIsTheOneSchedule(t *testing.T) {
	tests := []struct {
		name  string
		pacer vegeta.Pacer
		n     int
	}{
		{"constant 100/s over 3", vegeta.ConstantPacer{Freq: 100, Per: time.Second}, 3},
		{"constant 7/s over 2", vegeta.ConstantPacer{Freq: 7, Per: time.Second}, 2},
		{"constant 1000/s over 4", vegeta.ConstantPacer{Freq: 1000, Per: time.Second}, 4},
		{"one shard is the whole", vegeta.ConstantPacer{Freq: 50, Per: time.Second}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const hits = 600
			want := simulate(tt.pacer, hits)
			got := make([]time.Duration, hits)
			for i := range tt.n {
				sh := ShardPacer{Pacer: tt.pacer, Shard: Shard{Index: i, Count: tt.n}}
				for j, at := range simulate(sh, hits/tt.n) {
					g := sh.Shard.Global(uint64(j))
					got[g] = at
					due, ok := IntendedOffset(sh, uint64(j))
					if whole, _ := IntendedOffset(tt.pacer, g); !ok || due != whole {
						t.Fatalf("shard %d hit %d: IntendedOffset %v, %v; the schedule's hit %d is due at %v", i, j, due, ok, g, whole)
					}
				}
			}
			if !slices.Equal(got[:len(want)], want) {
				t.Fatalf("shards send at %v…, the one pacer at %v…", got[:8], want[:8])
			}
			if r := (ShardPacer{Pacer: tt.pacer, Shard: Shard{Index: 0, Count: tt.n}}).Rate(0); r != tt.pacer.Rate(0)/float64(tt.n) {
				t.Errorf("shard rate %v, want %v / %d", r, tt.pacer.Rate(0), tt.n)
			}
		})
	}
}

// TestShardTargeterIsTheOneMix: N sharded targeters together make, hit for hit, the requests
// the one targeter makes (method, page, held or not, sampled or not, the POST's name), with the
// held requests and sampling decisions drawn by the one seed.
func TestShardTargeterIsTheOneMix(t *testing.T) {
	o := TargetOptions{Requests: testMix, Held: testHeld, BaseURL: "http://127.0.0.1:1", Seed: 7,
		DelayShare: 0.1, Delay: time.Second, TraceSample: 0.3}
	const hits, n = 900, 3
	describe := func(tg vegeta.Target) string {
		id, sampled := TraceOf(&vegeta.Result{URL: tg.URL})
		if id == "" {
			t.Fatalf("no trace id in %q", tg.URL)
		}
		return fmt.Sprintf("%s %s delayed=%v sampled=%v body=%s", tg.Method, StripNotes(tg.URL), Delayed(&vegeta.Result{URL: tg.URL}), sampled, tg.Body)
	}
	one := NewTargeter(o)
	want := make([]string, hits)
	for i := range want {
		var tg vegeta.Target
		if err := one(&tg); err != nil {
			t.Fatal(err)
		}
		want[i] = describe(tg)
	}
	got := make([]string, hits)
	for i := range n {
		so := o
		so.Shard = Shard{Index: i, Count: n}
		tr := NewTargeter(so)
		for j := range hits / n {
			var tg vegeta.Target
			if err := tr(&tg); err != nil {
				t.Fatal(err)
			}
			got[so.Shard.Global(uint64(j))] = describe(tg)
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("hit %d: shards made %q, the one targeter %q", i, got[i], want[i])
		}
	}
	if !strings.Contains(strings.Join(want, "\n"), "delayed=true") || !strings.Contains(strings.Join(want, "\n"), http.MethodPost) {
		t.Fatal("the mix has no held request or no POST: the test shows nothing")
	}
}

// TestWorkersCheck: a worker that sent too little of its share, or too late, makes the check
// fail naming it, even when the merged figures hide it.
func TestWorkersCheck(t *testing.T) {
	ok := summary.Worker{Addr: "10.0.0.1:7070", Scheduled: 100, Requests: 100, SendLatenessP99Ms: 1}
	tests := []struct {
		name  string
		rows  []summary.Worker
		pass  bool
		names string
	}{
		{"all kept up", []summary.Worker{ok, ok}, true, ""},
		{"one hit of slack", []summary.Worker{ok, {Addr: "b:1", Scheduled: 20, Requests: 19}}, true, ""},
		{"one sent too few", []summary.Worker{ok, {Addr: "b:1", Scheduled: 100, Requests: 60, SendLatenessP99Ms: 1}}, false, "worker b:1 fell behind: 60 of 100"},
		{"one sent late", []summary.Worker{ok, {Addr: "c:1", Scheduled: 100, Requests: 100, SendLatenessP99Ms: 80}}, false, "worker c:1 fell behind"},
		{"schedule unknown", []summary.Worker{{Addr: "d:1", Scheduled: -1, Requests: 5}}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := workersCheck(tt.rows, 50*time.Millisecond)
			if c.Pass != tt.pass || c.Kind != summary.Validity || !strings.Contains(c.Got, tt.names) {
				t.Errorf("check %+v; want pass %v, validity, got naming %q", c, tt.pass, tt.names)
			}
		})
	}
}

// TestRunShardedRows: an attack whose results are said to come from two workers has a row per
// worker, each with its share and its first hit's start, and the workers check.
func TestRunShardedRows(t *testing.T) {
	srv, _ := traceServer(t, func(int64) time.Duration { return 0 })
	f, err := Attack(context.Background(), Config{
		Scenario: "steady", Pacer: vegeta.ConstantPacer{Freq: 40, Per: time.Second}, Duration: time.Second,
		Targets: TargetOptions{Requests: testGets, Held: testHeld, BaseURL: srv.URL, Seed: 1}, Timeout: 5 * time.Second, KeepAlive: true,
		MaxLatenessP99: time.Second, Shards: []string{"a:1", "b:1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Workers) != 2 {
		t.Fatalf("rows %+v, want 2", f.Workers)
	}
	for i, w := range f.Workers {
		if w.Shard != i || w.Scheduled != 20 || w.Requests < 19 || w.Requests+f.Workers[1-i].Requests != f.Requests || w.FirstSendLateMs < 0 {
			t.Errorf("row %d: %+v; want shard %d, 20 scheduled, ~20 sent, a first send at or after its time", i, w, i)
		}
	}
	if c := checkByName(f, "workers kept up"); !c.Pass {
		t.Errorf("workers check %+v at an easy rate", c)
	}
}
