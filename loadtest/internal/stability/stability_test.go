package stability

import (
	"math"
	"strings"
	"testing"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

func TestSummarize(t *testing.T) {
	run := func(id string, v summary.Verdict, p99 float64) summary.Run {
		return summary.Run{ID: id, Scenarios: []summary.Scenario{
			{Name: "steady", Verdict: v, Reasons: []string{"p99 latency: got " + id}, Latency: summary.Latencies{P99: p99}, AchievedRate: 100},
			{Name: "shutdown", Verdict: summary.Skipped},
		}}
	}
	rep := Summarize([]summary.Run{run("a", summary.Pass, 2), run("b", summary.Pass, 4), run("c", summary.Fail, 6)})
	if len(rep.Runs) != 3 || len(rep.Scenarios) != 2 {
		t.Fatalf("runs %v, scenarios %d", rep.Runs, len(rep.Scenarios))
	}
	st := rep.Scenarios[0]
	if st.Verdicts[summary.Pass] != 2 || st.Verdicts[summary.Fail] != 1 || len(st.Reasons) != 1 || !strings.HasPrefix(st.Reasons[0], "c: ") {
		t.Errorf("steady verdicts %v, reasons %q", st.Verdicts, st.Reasons)
	}
	var p99, rate Figure
	for _, f := range st.Figures {
		switch f.Name {
		case "p99 ms":
			p99 = f
		case "achieved rate /s":
			rate = f
		}
	}
	// 2, 4, 6: median 4, sample standard deviation 2, CV 0.5.
	if p99.Median != 4 || p99.Min != 2 || p99.Max != 6 || math.Abs(p99.CV-0.5) > 1e-12 {
		t.Errorf("p99 spread %+v, want median 4, 2..6, CV 0.5", p99)
	}
	if rate.CV != 0 || rate.Median != 100 {
		t.Errorf("rate spread %+v, want 100 with CV 0", rate)
	}
	if sd := rep.Scenarios[1]; sd.Verdicts[summary.Skipped] != 3 || len(sd.Figures) != 0 {
		t.Errorf("skipped shutdown: %+v, want 3 skips and no figures", sd)
	}
	var b strings.Builder
	if err := Markdown(&b, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| steady | 2 | 1 | 0 | 0 |") || !strings.Contains(b.String(), "| steady | p99 ms | 4 | 2 | 6 | 50.0% |") {
		t.Errorf("markdown:\n%s", b.String())
	}
}
