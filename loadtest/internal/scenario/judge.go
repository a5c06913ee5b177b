package scenario

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/atomicfile"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// outcome is how one scenario's attack ended, as the judge sees it after the settle time.
type outcome struct {
	run     attackRun
	crash   *crashError // the server died under the scenario; nil: it did not
	settled bool        // the whole settle time passed (false: Ctrl-C during it)
}

// judge fills sc from the step that stands for the scenario and, unless the run was cut, turns
// its checks into the verdict.
func judge(ctx context.Context, s Scenario, l *Live, h Hooks, out outcome, sc *summary.Scenario) {
	run, crash := out.run, out.crash
	pick := len(run.figs) - 1
	if run.plan != nil {
		pick = run.plan.Judged(run.figs)
	}
	f := run.figs[pick]
	f.Fill(sc)
	sc.Checks = append(sc.Checks, f.Checks...)
	sc.Files = map[string]string{"results": run.files[pick], "timeline": s.Name + ".timeline.json"}
	for i, file := range run.files {
		if i != pick {
			sc.Files[fmt.Sprintf("results_step%d", i+1)] = file
		}
	}
	if ctx.Err() != nil || (run.cut && crash == nil) || !out.settled {
		// Ctrl-C or a lost worker: keep the figures, no checks on a cut run.
		sc.Verdict = summary.Interrupted
		sc.Reasons = []string{"interrupted: the attack was stopped before its end"}
		if run.lost != "" {
			sc.Reasons = []string{"interrupted: " + run.lost + "; the results that arrived are kept"}
		}
		return
	}
	if h.Check != nil {
		h.Check(ctx, sc)
	}
	if run.disturbErr != nil {
		sc.Checks = append(sc.Checks, check("disturbance", false, "ran", run.disturbErr.Error()))
	}
	if crash != nil {
		sc.Checks = append([]summary.Check{check("server alive", false, "running until the scenario ends", crash.Error())}, sc.Checks...)
	}
	if sc.Contention = contended(l, f.Windows, f.Slowest, sc.LatencyIntended.P99, sc.SendLateness.P99); sc.Contention != nil && l.Settings.MaxNeighbourShare > 0 {
		sc.Checks = append(sc.Checks, neighbourCheck(sc.Contention, l.Settings.MaxNeighbourShare))
	}
	sc.Verdict, sc.Reasons = summary.Judge(sc.Checks)
	if line := decidedBy(sc.Checks); line != "" {
		sc.Reasons = append(sc.Reasons, line)
	}
	if crash != nil {
		// A crash is the server's failure even when the cut attack also looks invalid.
		sc.Verdict = summary.Fail
	}
}

// decidedBy names, when some checks were not available (a signal the server does not expose),
// the checks that did judge and the ones that could not: "" when every check was available.
func decidedBy(checks []summary.Check) string {
	var judged, missing []string
	for _, c := range checks {
		switch {
		case c.NotMeasured && strings.HasPrefix(c.Got, "not available"):
			missing = append(missing, c.Name)
		case !c.NotMeasured && c.Kind != summary.Validity:
			judged = append(judged, c.Name)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("decided by: %s; not available: %s", strings.Join(judged, ", "), strings.Join(missing, ", "))
}

// collect adds the timeline, the events and the scenario's own figures to sc and writes the
// timeline file.
func (rn *Runner) collect(l *Live, h Hooks, settleAt time.Time, sc *summary.Scenario, run attackRun) {
	sc.Timeline = l.Sampler.Samples()
	sc.Events = l.Events()
	sc.Server = l.ServerStats(settleAt)
	sc.Server.CPUPerRequestUs, sc.Server.HarnessCPUPerRequestUs = run.cpuPerRequest()
	sig := l.Signals
	sc.Signals = &sig
	if l.kernel != nil {
		sc.Net = l.kernel.stats(sc.Timeline)
	}
	if h.Collect != nil {
		h.Collect(sc)
	}
	err := atomicfile.WriteJSON(filepath.Join(rn.Dir, sc.Files["timeline"]), struct {
		Scenario string           `json:"scenario"`
		Samples  []summary.Sample `json:"samples"`
		Events   []summary.Event  `json:"events"`
	}{sc.Name, sc.Timeline, sc.Events})
	if err != nil {
		sc.Reasons = append(sc.Reasons, fmt.Sprintf("write timeline: %v", err))
	}
}
