package scenario

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// busyLoops starts n shell busy loops at the given nice value, stopped by PID at the test's end.
func busyLoops(t *testing.T, n, nice int) {
	t.Helper()
	for range n {
		hog := exec.Command("sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = hog.Process.Kill(); _ = hog.Wait() })
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, hog.Process.Pid, nice); err != nil {
			t.Fatalf("nice the busy loop: %v", err)
		}
	}
}

// neighbourSettings are short()'s with the neighbour check on, 4 s at 100 req/s: the nice loop's
// test runs in make test, beside the other packages' tests.
func neighbourSettings() Settings {
	set := short()
	set.Rate, set.Duration = 100, 4*time.Second
	set.MaxNeighbourShare = 0.1
	return set
}

// busyNeighbourSettings are neighbourSettings at steady's defaults (20 s, the 10 slowest
// requests), where the rule was measured (docs/design/harness-evidence.md): in a run of a few
// seconds the slowest requests may not overlap a burst of the busy loops'.
func busyNeighbourSettings() Settings {
	set := neighbourSettings()
	set.Duration, set.SlowestN = 20*time.Second, 10
	return set
}

// TestBusyNeighbourIsInvalid: two busy loops at normal priority (what a neighbour on a shared
// CI runner does) make our threads wait for a CPU enough to move steady's p99: INVALID, naming
// the neighbour, whatever the latency was. The wait comes in bursts on the server's PostgreSQL
// backends, and the slowest requests are the ones that met them.
//
// Gated by NEIGHBOUR_PROOF=1 until it is shown reliable here: it and the fault matrix's row name
// the neighbour in 8 to 9 runs of 10 (docs/design/harness-evidence.md, "Contention: measured").
func TestBusyNeighbourIsInvalid(t *testing.T) {
	if os.Getenv("NEIGHBOUR_PROOF") == "" {
		t.Skip("NEIGHBOUR_PROOF=1 runs it: not yet shown reliable (docs/design/harness-evidence.md)")
	}
	h := newHarness(t, busyNeighbourSettings())
	busyLoops(t, 2, 0)
	out := h.run(t, context.Background(), "steady")
	c := out[0].Contention
	if c == nil {
		t.Fatal("steady beside two busy loops: no contention measured")
	}
	if out[0].Verdict != summary.Invalid || !strings.Contains(reasons(out[0]), "neighbour") || !c.Neighbour.Moved {
		t.Fatalf("steady beside two busy loops: %s (%s), %+v; want INVALID naming the neighbour",
			out[0].Verdict, reasons(out[0]), c.Neighbour)
	}
	t.Logf("%s: %s", out[0].Verdict, reasons(out[0]))
}

// TestNiceNeighbourPasses: a busy loop at nice 19 runs only when our threads do not want the
// CPU; they did not wait for it, and steady is judged on its merits.
func TestNiceNeighbourPasses(t *testing.T) {
	h := newHarness(t, neighbourSettings())
	busyLoops(t, 1, 19)
	out := h.run(t, context.Background(), "steady")
	c := out[0].Contention
	if c == nil {
		t.Fatal("steady beside a nice loop: no contention measured")
	}
	if c.ForeignCPUs < 0.5 {
		t.Errorf("others ran %.2f CPUs beside a busy loop; want ≥ 0.5 (the loop ran)", c.ForeignCPUs)
	}
	// The loop runs in this test's scheduling group at nice 19: a low-priority peer, its CPU
	// niced in every window it ran in.
	var niced float64
	for _, w := range c.Windows {
		niced += w.NicedCPUs / float64(len(c.Windows))
	}
	if niced < 0.5 {
		t.Errorf("the nice-19 loop ran %.2f niced CPUs per window; want ≥ 0.5 (others ran %.2f)", niced, c.ForeignCPUs)
	}
	// Our threads found a CPU free: the loop's CPU is niced, the machine not crowded.
	if n := c.Neighbour; n.CPUs < 2 || n.OurCPUs+n.CompetingCPUs > float64(n.CPUs)-1 {
		t.Errorf("beside a nice-19 loop our threads ran %.2f CPUs and others %.2f, niced left out, of %d; want a CPU left free", n.OurCPUs, n.CompetingCPUs, n.CPUs)
	}
	if out[0].Verdict != summary.Pass || c.Neighbour.Moved {
		t.Fatalf("steady beside a nice-19 loop: %s (%s), %+v; want PASS", out[0].Verdict, reasons(out[0]), c.Neighbour)
	}
	t.Logf("%s: %.3f ms per request waited in the p99's window, p99 %.1f ms, others ran %.2f CPUs",
		out[0].Verdict, c.Neighbour.RunQueueDelayMs, c.Neighbour.JudgedMs, c.ForeignCPUs)
}
