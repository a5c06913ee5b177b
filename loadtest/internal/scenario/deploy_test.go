package scenario

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// checkNamed returns sc's check called name.
func checkNamed(t *testing.T, sc summary.Scenario, name string) summary.Check {
	t.Helper()
	for _, c := range sc.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s has no check %q: %+v", sc.Name, name, sc.Checks)
	return summary.Check{}
}

// TestDeployStrategies replaces the real server under load: a restart FAILS on the refused
// requests, with a gap as long as the new server's start-up at least; a handoff of the listening socket PASSES with no failed
// request at all; a handoff whose old server cannot drain its held requests (a drain timeout
// shorter than them) FAILS on its forced exit.
func TestDeployStrategies(t *testing.T) {
	tests := []struct {
		name     string
		strategy string
		drain    time.Duration // the old server's SHUTDOWN_TIMEOUT
		want     summary.Verdict
		failing  []string // checks that must fail
	}{
		{"restart", Restart, 5 * time.Second, summary.Fail, []string{deployFailedName}},
		{"handoff", Handoff, 5 * time.Second, summary.Pass, nil},
		{"handoff, forced short drain", Handoff, 100 * time.Millisecond, summary.Fail, []string{"old server exited cleanly within its drain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := short()
			set.Shutdown.DrainTimeout = tt.drain
			set.Deploy = DeploySettings{Strategy: tt.strategy, MaxGap: 500 * time.Millisecond, MigrateReq: -1}
			h := newHarness(t, set)
			sc := h.run(t, context.Background(), "deploy")[0]
			ds := sc.Deploy
			if ds == nil {
				t.Fatalf("no deploy block: %s (%s)", sc.Verdict, reasons(sc))
			}
			t.Logf("%s: %s; gap %.0fms; failures %v; instances %+v; old exit %d after %.0fms", tt.name, sc.Verdict,
				ds.GapMs, ds.Failures, ds.Instances, ds.OldExitCode, ds.OldDrainMs)
			if generatorOnly(sc) && tt.want == summary.Pass {
				t.Skipf("INVALID on a busy machine: %s", reasons(sc))
			}
			if sc.Verdict != tt.want {
				t.Fatalf("verdict %s, want %s: %s", sc.Verdict, tt.want, reasons(sc))
			}
			for _, name := range tt.failing {
				if c := checkNamed(t, sc, name); c.Pass {
					t.Errorf("check %q passed (%s), want it failing", name, c.Got)
				}
			}
			switch tt.strategy {
			case Restart:
				if ds.Failures["refused"] == 0 || !strings.Contains(checkNamed(t, sc, deployFailedName).Got, "refused") {
					t.Errorf("restart: failures %v, want refused ones named", ds.Failures)
				}
				// Nothing answers between the old server's exit and the new one's readiness: the
				// gap covers the new server's start-up at least (whether that is over -max-gap
				// depends on the machine: the refused requests are the failure).
				if startup := ds.SuccessorReadyMs - (ds.SwitchOffsetMs + ds.OldDrainMs); startup <= 0 || ds.GapMs < startup {
					t.Errorf("restart: gap %.0fms, want at least the new server's start-up %.0fms", ds.GapMs, startup)
				}
			case Handoff:
				if tt.want == summary.Pass && (len(ds.Failed) != 0 || len(ds.Instances) != 2) {
					t.Errorf("handoff: failed %+v, instances %+v; want none failed and two instances", ds.Failed, ds.Instances)
				}
			}
		})
	}
}

// TestDeployGap: the gap is the longest time between answers while requests were sent; a hole
// counts, answers that stop before the last send count to it, the quiet after it does not.
func TestDeployGap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	// every sends at 0, 10, ... up to last (ms), each answered 2 ms later unless in a hole.
	every := func(last int, hole func(int) bool) []deployResult {
		var rs []deployResult
		for s := 0; s <= last; s += 10 {
			rs = append(rs, deployResult{sent: ms(s), end: ms(s + 2), failed: hole(s)})
		}
		return rs
	}
	none := func(int) bool { return false }
	tests := []struct {
		name    string
		results []deployResult
		want    time.Duration
	}{
		{"steady", every(1000, none), 10 * time.Millisecond},
		{"a hole of 600ms", every(1000, func(s int) bool { return s > 200 && s < 800 }), 600 * time.Millisecond},
		{"answers stop 300ms before the last send", every(1000, func(s int) bool { return s > 700 }), 298 * time.Millisecond},
		{"held answers after the last send", append(every(1000, none), deployResult{sent: ms(900), end: ms(1900)}), 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &deployRun{live: &Live{start: t0}, set: DeploySettings{MaxGap: 500 * time.Millisecond}, results: tt.results}
			ds := &summary.DeployStats{}
			c := d.gapCheck(ds)
			if got := time.Duration(ds.GapMs * float64(time.Millisecond)); got != tt.want {
				t.Fatalf("gap %s, want %s", got, tt.want)
			}
			if c.Pass != (tt.want < 500*time.Millisecond) {
				t.Fatalf("check pass %v for gap %s", c.Pass, tt.want)
			}
		})
	}
}
