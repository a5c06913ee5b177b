package compare

import (
	"github.com/benchharness/benchharness/loadtest/internal/md"

	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
)

// LinkReports sets each run's report link to its report.html, relative to outDir (where
// compare.md is written) so that the links work when the folders are copied together, as the
// CI artifact is.
func (r *Result) LinkReports(base, current []Input, outDir string) {
	link := func(refs []RunRef, in []Input) {
		for i := range refs {
			html := filepath.Join(in[i].Dir, "report.html")
			rel, err := filepath.Rel(absOr(outDir), absOr(html))
			if err != nil {
				rel = absOr(html)
			}
			refs[i].Report = filepath.ToSlash(rel)
		}
	}
	link(r.Base, base)
	link(r.Current, current)
}

// NameCommits names the commit each side's server was built from. A run records the commit of
// the harness binary that ran it, which make regress builds from the working tree for both
// sides; make regress knows which commit each server came from. A commit given as "SHA dirty"
// marks the runs dirty; an empty one keeps what the runs recorded.
func (r *Result) NameCommits(base, current string) {
	name := func(refs []RunRef, commit string) {
		sha, rest, _ := strings.Cut(strings.TrimSpace(commit), " ")
		if sha == "" {
			return
		}
		for i := range refs {
			refs[i].Commit, refs[i].Dirty = sha, strings.TrimSpace(rest) == "dirty"
		}
	}
	name(r.Base, base)
	name(r.Current, current)
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// WriteJSON writes compare.json.
func WriteJSON(w io.Writer, r Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode compare.json: %w", err)
	}
	return nil
}

// WriteMarkdown writes compare.md: the outcome and the correctness failures first, then a
// verdict per scenario and metric, then the figures behind each verdict, the runs and the method.
func WriteMarkdown(w io.Writer, r Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Regression comparison: %s\n\n", r.Outcome)
	fmt.Fprintf(&b, "**%s.**\n\n", upperFirst(r.Headline))
	fmt.Fprintf(&b, "Base: %s. Current: %s.\n\n", sideLine(r.Base, r.BaseLabel), sideLine(r.Current, r.CurrentLabel))
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "> ⚠ %s\n", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}

	writeProblems(&b, r)
	writeVerdicts(&b, r)
	writeDetails(&b, r)
	writeProfileDiff(&b, r.ProfileDiff)
	writeRuns(&b, r)
	b.WriteString("\n## Method\n\n")
	b.WriteString("Latency (p50, p99), throughput and error ratio are sampled once per one-second window; goroutine peak, " +
		"server CPU per request, settle, drain and cleanup times, ramp capacity once per run. Samples of all runs of a side are pooled (interleaved A B A B runs " +
		"put machine drift on both sides). Each side is summarised by its median with a distribution-free confidence " +
		"interval, and the sides are compared with the Mann-Whitney U test (golang.org/x/perf/benchmath), on windows and on " +
		"per-run medians. A metric is worse or better only when those p < α, the change of the medians is beyond both its " +
		"relative and absolute limit, and the family-wise p (Holm over one-sided Welch t tests on the runs' log values, " +
		"towards worse for a worse verdict and towards better for a better one, over all " +
		fmt.Sprint(r.FamilySize) + " metric tests of this comparison) is below α too, so that the chance of calling any " +
		"metric of an unchanged server worse stays under α. \"Not enough samples\" means the sample sizes cannot reach p < α " +
		"whatever the data. \"Could detect\" is the smallest worsening these runs would have caught with " + fmt.Sprintf("%.0f%%", Power*100) +
		" probability (the larger of the two run-level tests' minimum detectable effects at their α, from the runs' spread); " +
		"when it is beyond the limit the metric is \"cannot judge\", with the runs a side that would bring it within.\n")
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write compare.md: %w", err)
	}
	return nil
}

// writeProblems renders what stops a judgement or fails the comparison whatever the statistics:
// INVALID runs, correctness failures, and the absolute objectives CURRENT missed.
func writeProblems(b *strings.Builder, r Result) {
	if len(r.Invalid) > 0 {
		b.WriteString("## Cannot judge\n\n")
		b.WriteString("A run with an INVALID scenario measured a generator that fell behind, not the server (on a shared machine a CPU-hungry change starves the generator). Re-run those rounds (`make regress` does, up to REGRESS_INVALID_RETRIES times).\n\n")
		for _, s := range r.Invalid {
			fmt.Fprintf(b, "- %s\n", md.Text(s))
		}
		b.WriteString("\n")
	}

	if len(r.Failures) > 0 {
		b.WriteString("## Correctness failures in current\n\n")
		b.WriteString("A scenario that fails its own checks fails the comparison whatever the baseline did: a lost request or a leaked goroutine is never noise.\n\n")
		for _, f := range r.Failures {
			fmt.Fprintf(b, "- **%s** in run `%s`: %s (%s)\n", f.Scenario, f.Run, f.Verdict, f.BaseSummary)
			for _, reason := range f.Reasons {
				fmt.Fprintf(b, "  - %s\n", md.Text(reason))
			}
		}
		b.WriteString("\n")
	}

	if len(r.PerfFailures) > 0 {
		b.WriteString("## Performance objectives missed in current\n\n")
		b.WriteString("These scenarios failed only absolute objectives (p99 and error ratio under their limits, capacity). They do not fail the comparison by themselves: the statistics below judge whether CURRENT is slower than BASE on the same machine.\n\n")
		for _, f := range r.PerfFailures {
			fmt.Fprintf(b, "- **%s** in run `%s` (%s)\n", f.Scenario, f.Run, f.BaseSummary)
			for _, reason := range f.Reasons {
				fmt.Fprintf(b, "  - %s\n", md.Text(reason))
			}
		}
		b.WriteString("\n")
	}

}

// writeVerdicts renders the scenario × metric verdict table.
func writeVerdicts(b *strings.Builder, r Result) {
	b.WriteString("## Verdicts\n\n")
	metrics := Metrics()
	b.WriteString("| scenario |")
	for _, m := range metrics {
		fmt.Fprintf(b, " %s |", m.Label)
	}
	b.WriteString("\n|---|")
	for range metrics {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, s := range r.Scenarios {
		fmt.Fprintf(b, "| %s |", s.Name)
		for _, m := range metrics {
			mr, ok := s.metric(m.Name)
			if !ok {
				b.WriteString(" |")
				continue
			}
			fmt.Fprintf(b, " %s |", verdictCell(mr))
		}
		b.WriteString("\n")
	}
	if len(r.OnlyBase) > 0 {
		fmt.Fprintf(b, "\nOnly in base (not compared): %s.\n", strings.Join(r.OnlyBase, ", "))
	}
	if len(r.OnlyCurrent) > 0 {
		fmt.Fprintf(b, "\nOnly in current (not compared): %s.\n", strings.Join(r.OnlyCurrent, ", "))
	}
	b.WriteString("\n")

}

// writeDetails renders, per scenario, the figures behind each verdict and the notes.
func writeDetails(b *strings.Builder, r Result) {
	b.WriteString("## Details\n\n")
	for _, s := range r.Scenarios {
		fmt.Fprintf(b, "### %s\n\n", s.Name)
		fmt.Fprintf(b, "| metric | base median [%s CI] | current median [%s CI] | n base+current | change | p | limit | could detect | verdict |\n",
			confLabel(r.Thresholds.Confidence), confLabel(r.Thresholds.Confidence))
		b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
		for _, mr := range s.Metrics {
			p := "—"
			if mr.P != nil {
				p = fmtP(*mr.P)
			}
			if mr.RunP != nil {
				p += " (runs " + fmtP(*mr.RunP) + ")"
			}
			if mr.FamilyP != nil {
				p += "; family " + fmtP(*mr.FamilyP)
			}
			samples := "windows"
			if mr.PerRun {
				samples = "runs"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %d+%d %s | %s | %s | %s | %s | %s |\n",
				mr.Label, statCell(mr.Base, mr.Unit), statCell(mr.Current, mr.Unit), mr.Base.N, mr.Current.N, samples,
				changeCell(mr), p, limitCell(mr), mdeCell(mr), verdictText(mr))
		}
		b.WriteString("\n")
		var notes []string
		for _, mr := range s.Metrics {
			if mr.Verdict != Same {
				notes = append(notes, fmt.Sprintf("%s: %s", mr.Label, mr.Why))
			}
		}
		notes = append(notes, s.Notes...)
		for _, n := range notes {
			fmt.Fprintf(b, "- %s\n", md.Text(n))
		}
		if len(notes) > 0 {
			b.WriteString("\n")
		}
	}

}

// writeRuns renders the runs of both sides with their commits and report links.
func writeRuns(b *strings.Builder, r Result) {
	b.WriteString("## Runs\n\n| side | run | commit | profile | verdict | report |\n|---|---|---|---|---|---|\n")
	for _, side := range []struct {
		name string
		refs []RunRef
	}{{"base", r.Base}, {"current", r.Current}} {
		for _, ref := range side.refs {
			commit := short(ref.Commit)
			if ref.Dirty {
				commit += " (dirty)"
			}
			report := "—"
			if ref.Report != "" {
				report = fmt.Sprintf("[report.html](%s)", ref.Report)
			}
			fmt.Fprintf(b, "| %s | `%s` | %s | %s | %s | %s |\n", side.name, ref.ID, commit, ref.Profile, ref.Verdict, report)
		}
	}
}

func (s ScenarioResult) metric(name string) (MetricResult, bool) {
	for _, m := range s.Metrics {
		if m.Metric == name {
			return m, true
		}
	}
	return MetricResult{}, false
}

// sideLine names a side by its label when given (the harness may not know the server's commit;
// make regress does), else by the commits its runs recorded.
func sideLine(refs []RunRef, label string) string {
	if label != "" {
		return fmt.Sprintf("%s of %s", plural(len(refs), "run", "runs"), label)
	}
	commits := map[string]bool{}
	var list []string
	for _, r := range refs {
		c := short(r.Commit)
		if r.Dirty {
			c += " (dirty)"
		}
		if !commits[c] {
			commits[c] = true
			list = append(list, c)
		}
	}
	return fmt.Sprintf("%s of %s", plural(len(refs), "run", "runs"), strings.Join(list, ", "))
}

func short(c string) string {
	if c == "" {
		return "unknown commit"
	}
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func verdictCell(mr MetricResult) string {
	switch mr.Verdict {
	case Worse:
		return fmt.Sprintf("❌ **worse** %s", pct(mr.ChangePct))
	case Better:
		return fmt.Sprintf("✅ better %s", pct(mr.ChangePct))
	case TooFew:
		return "· not enough samples"
	case Inconclusive:
		if mr.Power != nil && mr.Power.NeedRuns > 0 {
			return fmt.Sprintf("· cannot judge (need %d runs)", mr.Power.NeedRuns)
		}
		return fmt.Sprintf("· cannot judge (need >%d runs)", maxRuns)
	default:
		return "same"
	}
}

func verdictText(mr MetricResult) string {
	if mr.Verdict == Worse {
		return "**worse**"
	}
	return string(mr.Verdict)
}

func statCell(s Stat, unit string) string {
	if s.N == 0 {
		return "—"
	}
	out := fmtVal(s.Median, unit)
	if s.Lo != nil && s.Hi != nil {
		out += fmt.Sprintf(" [%s, %s]", fmtNum(*s.Lo, unit), fmtNum(*s.Hi, unit))
	} else {
		out += " [—]"
	}
	return out
}

func changeCell(mr MetricResult) string {
	if mr.Base.N == 0 || mr.Current.N == 0 {
		return "—"
	}
	if mr.ChangePct == nil {
		if mr.Current.Median == 0 {
			return "±0"
		}
		sign := "+"
		if mr.Current.Median < 0 {
			sign = ""
		}
		return sign + fmtVal(mr.Current.Median, mr.Unit) + " (base 0)"
	}
	return pct(mr.ChangePct)
}

// mdeCell is the smallest worsening the runs could have detected ("—" when not computed).
func mdeCell(mr MetricResult) string {
	switch {
	case mr.Power == nil:
		return "—"
	case mr.Power.MDE == nil:
		return "nothing"
	case mr.Power.MDEPct != nil:
		return fmt.Sprintf("≥%s (%.0f%%)", fmtVal(*mr.Power.MDE, mr.Unit), *mr.Power.MDEPct)
	}
	return "≥" + fmtVal(*mr.Power.MDE, mr.Unit)
}

func limitCell(mr MetricResult) string {
	return fmt.Sprintf("±%v%% & ±%s, α=%v", mr.Limit.MaxChangePct, fmtVal(mr.Limit.MinAbsChange, mr.Unit), mr.Limit.Alpha)
}

func fmtVal(v float64, unit string) string {
	n := fmtNum(v, unit)
	switch unit {
	case "ratio":
		return n + "%"
	case "":
		return n
	}
	return n + " " + unit
}

// fmtNum prints three significant digits without exponents; a ratio is printed as a percentage.
func fmtNum(v float64, unit string) string {
	if unit == "ratio" {
		v *= 100
	}
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func fmtP(p float64) string {
	if p < 0.001 {
		return "<0.001"
	}
	return fmt.Sprintf("%.3f", p)
}

func confLabel(c float64) string {
	return fmt.Sprintf("%g%%", c*100)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// minProfileSamples is the count under which the diff warns that it rests on too little.
const minProfileSamples = 100

// writeProfileDiff renders where the CPU time went: the functions whose CPU per request grew
// most, flat and cumulative, and the pprof command that opens the same diff.
func writeProfileDiff(b *strings.Builder, d *ProfileDiff) {
	if d == nil {
		return
	}
	fmt.Fprintf(b, "## Where the CPU time went (%s)\n\n", d.Scenario)
	fmt.Fprintf(b, "CPU profiles of %d base and %d current runs (%d and %d samples of 10 ms), each scaled to CPU per request sent while it was taken, then merged per side: %s µs per request in base, %s µs in current (%s).\n\n",
		d.Runs[0], d.Runs[1], d.Samples[0], d.Samples[1], fmtNum(d.TotalUs[0], "µs"), fmtNum(d.TotalUs[1], "µs"), pct(changeOf(d.TotalUs)))
	if d.Samples[0] < minProfileSamples || d.Samples[1] < minProfileSamples {
		fmt.Fprintf(b, "Few samples (under %d a side): a function's figure here is a handful of samples, not a measurement.\n\n", minProfileSamples)
	}
	for _, list := range []struct {
		title string
		fs    []FuncDelta
	}{{"flat (in the function itself)", d.Flat}, {"cum (in it and what it calls)", d.Cum}} {
		fmt.Fprintf(b, "Largest growth, %s:\n\n| function | base µs/req | current µs/req | Δ µs/req |\n|---|---|---|---|\n", list.title)
		for _, f := range list.fs {
			fmt.Fprintf(b, "| %s | %s | %s | +%s |\n", md.Code(f.Name), fmtNum(f.BaseUs, "µs"), fmtNum(f.CurrentUs, "µs"), fmtNum(f.DeltaUs, "µs"))
		}
		if len(list.fs) == 0 {
			b.WriteString("| (no function grew) | | | |\n")
		}
		b.WriteString("\n")
	}
	if d.Command != "" {
		fmt.Fprintf(b, "The same diff in pprof: `%s` (or `-http=127.0.0.1:0` instead of `-top`).\n\n", d.Command)
	}
}

func changeOf(v [2]float64) *float64 {
	if v[0] == 0 {
		return nil
	}
	c := (v[1] - v[0]) / v[0] * 100
	return &c
}
