package report

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"

	"github.com/benchharness/benchharness/loadtest/internal/report/chart"
)

// This file holds the figures and wording the three writers share, so that the terminal table,
// report.md and report.html never disagree about what a scenario's key figure or an error count is.

// ms formats a latency or duration given in milliseconds: "0.42 ms", "12.3 ms", "1.25 s".
func ms(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "n/a"
	case math.Abs(v) >= 1000:
		return chart.Trim(v/1000, 2) + " s"
	case math.Abs(v) >= 100:
		return chart.Trim(v, 0) + " ms"
	case math.Abs(v) >= 10:
		return chart.Trim(v, 1) + " ms"
	default:
		return chart.Trim(v, 2) + " ms"
	}
}

// msOrNever formats a duration whose −1 (any negative) means "never happened".
func msOrNever(v float64) string {
	if v < 0 {
		return "never"
	}
	return ms(v)
}

// rate formats requests per second.
func rate(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return chart.Trim(v, 1) + "/s"
}

// pct formats a ratio (0..1) as a percentage with two decimals: error budgets are often < 1 %.
func pct(ratio float64) string {
	if math.IsNaN(ratio) || math.IsInf(ratio, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(ratio*100, 'f', 2, 64) + "%"
}

// errorCount is the number of requests that did not succeed.
func errorCount(s summary.Scenario) int64 {
	if n := s.Requests - s.Successes; n > 0 {
		return n
	}
	return 0
}

// errorsCell is "n (x.xx%)".
func errorsCell(s summary.Scenario) string {
	return fmt.Sprintf("%d (%s)", errorCount(s), pct(s.ErrorRatio))
}

// lostCount prefers the shutdown classifier's count over the listed requests, which may be capped.
func lostCount(s summary.Scenario) int64 {
	if s.Shutdown != nil {
		if n, ok := s.Shutdown.Classes["lost"]; ok {
			return n
		}
	}
	return int64(len(s.Lost))
}

// keyFigure is the one number that matters most for the scenario's kind, which is told by the
// stats it carries rather than by its name, so a renamed or new scenario still reads right.
func keyFigure(s summary.Scenario) string {
	switch {
	case s.Verdict == summary.Skipped && s.Requests == 0:
		return "not run"
	case s.Ramp != nil:
		if s.Ramp.CapacityRate <= 0 {
			return "capacity: no rate met the SLO"
		}
		return "capacity " + rate(s.Ramp.CapacityRate)
	case s.Shutdown != nil:
		sd := s.Shutdown
		writes := fmt.Sprintf("writes %d/%d", sd.WritesFound, sd.WritesAcked)
		if sd.WritesFound < 0 {
			writes = "writes n/a"
		}
		f := fmt.Sprintf("lost %d, %s, drain %s, exit %s", lostCount(s), writes, msOrNever(sd.DrainMs), exitText(sd))
		if sd.Forced {
			f += " (forced)"
		}
		return f
	case s.Cancel != nil:
		c := s.Cancel
		seen, db := fmt.Sprint(c.CancelsSeen), fmt.Sprintf("still running %d, cleanup %s", c.StillRunning, msOrNever(c.CleanupMs))
		if c.CancelsSeen < 0 {
			seen = "n/a"
		}
		if c.StillRunning < 0 {
			db = "PostgreSQL n/a"
		}
		return fmt.Sprintf("cancels seen %s/%d, %s", seen, c.CancelsSent, db)
	default:
		return "success " + pct(s.SuccessRatio)
	}
}

// exitText is the shutdown's exit code, or "not measured" for a server signalled by
// -signal-cmd, whose exit the harness does not see.
func exitText(sd *summary.ShutdownStats) string {
	if sd.SignalCmd {
		return "not measured (-signal-cmd)"
	}
	return fmt.Sprint(sd.ExitCode)
}

// drainLabel names what the drain figure measures: until the process exited, or, for a server
// signalled by -signal-cmd, until its admin listener (closed last) refused a connection.
func drainLabel(sd *summary.ShutdownStats) string {
	if sd.SignalCmd {
		return "drain (signal command → admin listener closed)"
	}
	return "drain (SIGTERM → exit)"
}

// reasons are the scenario's reasons, or, when the runner gave none for a verdict that is not a
// pass, the failed checks, so a failure never prints without a why; then its diagnosis, the
// one line every report shows it as.
func reasons(s summary.Scenario) []string {
	if s.Verdict == summary.Pass {
		return s.Reasons
	}
	out := slices.Clone(s.Reasons)
	if len(out) == 0 {
		for _, c := range s.Checks {
			if !c.Pass {
				out = append(out, fmt.Sprintf("%s: want %s, got %s", c.Name, c.Want, c.Got))
			}
		}
	}
	if d := diagnosisLine(s.Diagnosis); d != "" {
		out = append(out, d)
	}
	return out
}

// diagnosisLine is "diagnosis: cause (evidence); cause (evidence)", or "" with no diagnosis.
func diagnosisLine(causes []summary.Cause) string {
	if len(causes) == 0 {
		return ""
	}
	parts := make([]string, len(causes))
	for i, c := range causes {
		parts[i] = c.String()
	}
	return "diagnosis: " + strings.Join(parts, "; ")
}

// runVerdict is the run's verdict as written, or computed from the scenarios when the runner left
// it empty (a summary cut short before the end).
func runVerdict(r summary.Run) summary.Verdict {
	if r.Verdict != "" {
		return r.Verdict
	}
	return summary.Overall(r.Scenarios)
}

// partialBanner is the one-line warning for a partial run, or "" for a complete one.
func partialBanner(r summary.Run) string {
	if !r.Partial {
		return ""
	}
	why := r.PartialReason
	if why == "" {
		why = "no reason recorded"
	}
	label := "PARTIAL"
	if r.Verdict == summary.Interrupted {
		label = "INTERRUPTED"
	}
	return label + ": " + why + "; the figures cover only what ran before the cut"
}

// runFolder is where the run's files are: Settings.Values["out"] (the runner's output directory
// flag) when recorded, else the contract's default bench-results/.
func runFolder(r summary.Run) string {
	dir := "bench-results"
	if d := r.Settings.Values["out"]; d != "" {
		dir = strings.TrimRight(d, "/")
	}
	if r.ID == "" {
		return dir
	}
	return dir + "/" + r.ID
}

// sortedCounts returns a count map's keys in order: numeric keys (status codes) numerically,
// others alphabetically, so reports are deterministic.
func sortedCounts(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, errA := strconv.Atoi(keys[i])
		b, errB := strconv.Atoi(keys[j])
		if errA == nil && errB == nil {
			return a < b
		}
		return keys[i] < keys[j]
	})
	return keys
}

// statusName labels a status-code key; "0" is the contract's code for transport errors.
func statusName(code string) string {
	if code == "0" {
		return "0 (transport error)"
	}
	return code
}

// shutdownClasses lists the contract's shutdown classes first, in their natural order; any
// other class the runner adds follows alphabetically.
func shutdownClasses(m map[string]int64) []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range []string{"completed_before", "completed_after", "refused", "accept_queue_reset", "lost"} {
		if _, ok := m[k]; ok {
			out = append(out, k)
			seen[k] = true
		}
	}
	for _, k := range sortedCounts(m) {
		if !seen[k] {
			out = append(out, k)
		}
	}
	return out
}

// elapsed formats a run's wall time.
func elapsed(r summary.Run) string {
	if r.StartedAt.IsZero() || r.FinishedAt.IsZero() || r.FinishedAt.Before(r.StartedAt) {
		return ""
	}
	return r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String()
}

// shortCommit is the first 12 characters of a commit hash, with "+dirty" for a dirty tree.
func shortCommit(e summary.Environment) string {
	c := e.Commit
	if c == "" {
		c = "unknown"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if e.Dirty {
		c += "+dirty"
	}
	return c
}

// traceLink returns the trace URL when it is safe to link (http or https only: a summary is
// input, and a javascript: URL must never become a link).
func traceLink(q summary.Request) string {
	u := strings.TrimSpace(q.TraceURL)
	l := strings.ToLower(u)
	if strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") {
		return u
	}
	return ""
}

// displayURL shortens an absolute request URL to its path and query: the host is the target
// shown in the header, and the fragment (the harness's tag such as #bench-delay) is not sent.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return u.RequestURI()
}

// requestError is the class and error of a request, for one table cell.
func requestError(q summary.Request) string {
	switch {
	case q.Class != "" && q.Error != "":
		return q.Class + ": " + q.Error
	case q.Class != "":
		return q.Class
	default:
		return q.Error
	}
}

// scenarioRan tells a scenario that produced figures from one that was skipped before it started.
func scenarioRan(s summary.Scenario) bool {
	return s.Requests > 0 || len(s.Windows) > 0 || len(s.Timeline) > 0
}

// workerColumns head the per-worker table of a distributed run, in both reports.
var workerColumns = []string{"Worker", "Shard", "Sent / its share", "Rate", "Send lateness p99", "First send late", "Errors", "Clock offset", "Status"}

// workerCells is one worker's row of that table, and whether it needs attention (it was lost).
// Its figures are its part of the merged run; every percentile above is from the merged results.
func workerCells(w summary.Worker) (cells []string, alarm bool) {
	sent := fmt.Sprint(w.Requests)
	if w.Scheduled >= 0 {
		sent += " / " + fmt.Sprint(w.Scheduled)
	}
	status := "ok"
	if w.Lost != "" {
		status = "lost: " + w.Lost
	}
	return []string{w.Addr, fmt.Sprint(w.Shard), sent, rate(w.AchievedRate), ms(w.SendLatenessP99Ms),
		signedMs(w.FirstSendLateMs), fmt.Sprint(w.Errors), signedMs(w.ClockOffsetMs) + " ± " + ms(w.ClockUncertaintyMs), status}, w.Lost != ""
}

// signedMs is ms with a sign: an offset or a start that may be early.
func signedMs(v float64) string {
	if v >= 0 {
		return "+" + ms(v)
	}
	return "−" + ms(-v)
}

// netRows are the "Network (kernel)" figures of a scenario and the note that goes with them
// (the counters are the machine's when the server shared the harness's namespace).
func netRows(s summary.Scenario) ([]figureRow, string) {
	n := s.Net
	if n == nil {
		return nil, ""
	}
	rows := []figureRow{{"accept queue peak / limit", fmt.Sprintf("%s / %s", chart.Trim(n.AcceptQueuePeak, 0), chart.Trim(n.AcceptQueueLimit, 0)),
		n.AcceptQueueLimit > 0 && n.AcceptQueuePeak > n.AcceptQueueLimit}}
	if sd := s.Shutdown; sd != nil && sd.AcceptQueueSeen >= 0 {
		rows = append(rows,
			figureRow{"connections seen waiting after SIGTERM", fmt.Sprint(sd.AcceptQueueSeen), false},
			figureRow{"reset in the kernel's accept queue (requests)", fmt.Sprint(sd.Classes["accept_queue_reset"]), sd.Classes["accept_queue_reset"] > 0})
	}
	for _, k := range slices.Sorted(maps.Keys(n.Counters)) {
		v := n.Counters[k]
		rows = append(rows, figureRow{k + " (Δ)", fmt.Sprint(v), v > 0 && (k == "ListenOverflows" || k == "ListenDrops")})
	}
	var note string
	switch {
	case n.Error != "":
		note = "counters not read: " + n.Error
	case n.SharedNamespace:
		note = "host namespace: counters include other traffic"
	}
	return rows, note
}
