// Package compare judges whether one set of bench runs (CURRENT) is slower or less correct than
// another (BASE), with statistics rather than a single-number diff.
//
// Every metric is compared on samples: per-second windows for latency, throughput and errors,
// one value per run for per-run figures (drain, settle and cleanup times, goroutine peak). The
// samples of several runs of a side are pooled, so interleaved runs (A B A B) let machine drift
// fall on both sides alike. golang.org/x/perf/benchmath supplies the statistics: medians with
// distribution-free confidence intervals and the Mann-Whitney U test. A metric is "worse" only
// when the difference is significant and beyond its threshold; a scenario that failed its own
// correctness checks in CURRENT fails the comparison whatever the statistics say.
package compare

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"golang.org/x/perf/benchmath"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Verdict is a metric's outcome.
type Verdict string

// Metric verdicts.
const (
	Better Verdict = "better"
	Same   Verdict = "same"
	Worse  Verdict = "worse"
	TooFew Verdict = "not enough samples"
	// Inconclusive means the runs could not have detected a change of the limit's size (power.go).
	Inconclusive Verdict = "cannot judge"
)

// Outcome is the comparison's overall result.
type Outcome string

// Overall outcomes.
const (
	OK         Outcome = "PASS"       // no correctness failure, no significant regression
	Regression Outcome = "REGRESSION" // a metric is significantly worse beyond its threshold
	Failed     Outcome = "FAIL"       // a scenario failed its checks in CURRENT
	// Unjudged means a run of either side has an INVALID scenario (the generator fell behind), so
	// its figures describe the client; a gate that could not judge must not pass.
	Unjudged Outcome = "CANNOT JUDGE"
	// Underpowered means nothing was found worse, but the runs could not have seen a change of the
	// limit's size in a metric the thresholds require (require_power), or in any metric at all.
	Underpowered Outcome = "INCONCLUSIVE"
)

// Result is the whole comparison: what compare.json holds and compare.md renders.
type Result struct {
	SchemaVersion int       `json:"schema_version"`
	Outcome       Outcome   `json:"outcome"`
	Headline      string    `json:"headline"`
	Failures      []Failure `json:"failures"` // correctness failures in CURRENT, first in the report
	// Invalid says, per side, which runs had an INVALID scenario (outcome CANNOT JUDGE).
	Invalid []string `json:"invalid,omitempty"`
	// FamilySize is how many metric tests the family-wise correction covered.
	FamilySize int `json:"family_size"`
	// PerfFailures are CURRENT scenarios that failed only absolute performance objectives (p99
	// under the SLO, capacity): shown, but judged by the statistics, because on a loaded machine
	// both sides miss them alike.
	PerfFailures []Failure        `json:"performance_failures,omitempty"`
	Regressions  []Finding        `json:"regressions"` // metrics judged worse
	Improvements []Finding        `json:"improvements"`
	Scenarios    []ScenarioResult `json:"scenarios"`
	OnlyBase     []string         `json:"only_base,omitempty"`    // scenarios missing from CURRENT
	OnlyCurrent  []string         `json:"only_current,omitempty"` // scenarios missing from BASE
	Base         []RunRef         `json:"base"`
	Current      []RunRef         `json:"current"`
	BaseLabel    string           `json:"base_label,omitempty"`    // e.g. "abc123 (merge-base)", from -base-label
	CurrentLabel string           `json:"current_label,omitempty"` // e.g. "def456 + uncommitted changes"
	Notes        []string         `json:"notes,omitempty"`         // comparability warnings (profile, CPU count differ)
	Thresholds   Thresholds       `json:"thresholds"`
	// ProfileDiff is where the CPU time went (nil when a side has no CPU profile).
	ProfileDiff *ProfileDiff `json:"profile_diff,omitempty"`
}

// ResultSchemaVersion is the version of compare.json's layout.
const ResultSchemaVersion = 2

// RunRef identifies one input run.
type RunRef struct {
	ID      string          `json:"id"`
	Path    string          `json:"path"`   // summary.json as given
	Report  string          `json:"report"` // report.html, relative to the compare output folder when possible
	Commit  string          `json:"commit"`
	Dirty   bool            `json:"dirty"`
	Profile string          `json:"profile"`
	Verdict summary.Verdict `json:"verdict"`
}

// Failure is a scenario that failed its own checks in a CURRENT run.
type Failure struct {
	Scenario    string          `json:"scenario"`
	Run         string          `json:"run"`
	Verdict     summary.Verdict `json:"verdict"`
	Reasons     []string        `json:"reasons"`
	BaseFailed  bool            `json:"base_failed"` // the scenario failed in BASE too (still a failure)
	BaseSummary string          `json:"base_summary"`
}

// Finding names one metric of one scenario that changed.
type Finding struct {
	Scenario  string   `json:"scenario"`
	Metric    string   `json:"metric"`
	ChangePct *float64 `json:"change_pct"`
	P         float64  `json:"p"`
}

// ScenarioResult holds the metrics of one scenario present on both sides.
type ScenarioResult struct {
	Name    string         `json:"name"`
	Metrics []MetricResult `json:"metrics"`
	Notes   []string       `json:"notes,omitempty"` // runs left out and why
}

// MetricResult is one metric's comparison.
type MetricResult struct {
	Metric        string   `json:"metric"`
	Label         string   `json:"label"`
	Unit          string   `json:"unit"`
	HigherIsWorse bool     `json:"higher_is_worse"`
	PerRun        bool     `json:"per_run"` // samples are runs rather than windows
	Base          Stat     `json:"base"`
	Current       Stat     `json:"current"`
	ChangePct     *float64 `json:"change_pct"` // (current − base) / base × 100; null when base is 0
	P             *float64 `json:"p"`          // U test p-value; null when not computed
	// RunP is the U test on per-run medians of a window metric, computed when each side has
	// enough runs to reach significance; a verdict other than "same" needs it below alpha too.
	RunP *float64 `json:"run_p,omitempty"`
	RunN [2]int   `json:"run_n,omitempty"` // runs with windows: base, current
	// FamilyP is the family-wise adjusted p-value (Holm over run-level Welch t tests, family.go);
	// a verdict other than "same" needs it below alpha. Null when the metric was not tested.
	FamilyP  *float64 `json:"family_p"`
	MinP     float64  `json:"min_p"` // smallest p-value these sample sizes can give
	Limit    Limit    `json:"limit"`
	Verdict  Verdict  `json:"verdict"`
	Why      string   `json:"why"`
	Warnings []string `json:"warnings,omitempty"`
	// Power is what these runs could have detected; nil when a side has no value.
	Power *PowerResult `json:"power,omitempty"`
}

// PowerResult is the smallest change a comparison could have detected in one metric.
type PowerResult struct {
	Runs [2]int `json:"runs"` // runs with a value: base, current
	// MDE is the minimum detectable effect at α and Power, in the metric's unit, in the worse
	// direction; null when no change could be detected with these runs.
	MDE    *float64 `json:"mde"`
	MDEPct *float64 `json:"mde_pct"` // MDE in percent of the base median; null when it is 0
	// LimitChange is the smallest change the limits call worth failing for, in the metric's unit.
	LimitChange float64 `json:"limit_change"`
	SigmaLog    float64 `json:"sigma_log"`    // run-to-run spread used: SD of log(value + min_abs_change)
	SpreadKnown bool    `json:"spread_known"` // false: no side had two runs; the floor was assumed
	// NeedRuns is how many runs a side would bring the MDE within the limit (0: enough already,
	// or more than the search bound when Verdict is cannot judge).
	NeedRuns int `json:"need_runs,omitempty"`
}

// Stat is a side's median with its confidence interval; Lo and Hi are null when the sample is
// too small for an interval at the requested confidence.
type Stat struct {
	N          int      `json:"n"`
	Median     float64  `json:"median"`
	Lo         *float64 `json:"lo"`
	Hi         *float64 `json:"hi"`
	Confidence float64  `json:"confidence"`
}

// Compare judges CURRENT against BASE. It returns an error only when nothing can be compared
// (an empty side or no scenario in common).
func Compare(base, current []Input, th Thresholds) (Result, error) {
	if len(base) == 0 || len(current) == 0 {
		return Result{}, fmt.Errorf("both sides need at least one run")
	}
	if err := th.Validate(); err != nil {
		return Result{}, fmt.Errorf("thresholds: %w", err)
	}
	res := Result{SchemaVersion: ResultSchemaVersion, Thresholds: th,
		Base: refs(base), Current: refs(current)}

	bNames, cNames := scenarioNames(base), scenarioNames(current)
	var common []string
	for _, n := range ScenarioOrder(current) {
		if bNames[n] {
			common = append(common, n)
		} else {
			res.OnlyCurrent = append(res.OnlyCurrent, n)
		}
	}
	for _, n := range ScenarioOrder(base) {
		if !cNames[n] {
			res.OnlyBase = append(res.OnlyBase, n)
		}
	}
	if len(common) == 0 {
		return Result{}, fmt.Errorf("no scenario in common (base: %v, current: %v)", ScenarioOrder(base), ScenarioOrder(current))
	}
	if err := Unlike(base, current); err != nil {
		return Result{}, err
	}
	res.Notes = comparability(base, current)
	res.Failures, res.PerfFailures = failures(base, current)
	res.Invalid = invalidRuns(base, current)

	var tests []familyTest
	var at [][2]int // scenario and metric index of each family test
	var spreads [][]spread
	metrics := 0
	for _, name := range common {
		sr, ft := compareScenario(base, current, name, th)
		sp := make([]spread, len(ft))
		for j, t := range ft {
			sp[j] = t.spread
			if t.values != nil {
				tests = append(tests, t)
				at = append(at, [2]int{len(res.Scenarios), j})
			}
		}
		metrics += len(ft)
		spreads = append(spreads, sp)
		res.Scenarios = append(res.Scenarios, sr)
	}
	// Below 4 runs a side the per-run rank check cannot be made (see runLevel); a t test on 2 or
	// 3 runs alone is not trusted with a gate.
	floor := minP(len(base), len(current))
	worseP, betterP := holmP(tests, len(base), towardsWorse), holmP(tests, len(base), towardsBetter)
	for k := range tests {
		res.Scenarios[at[k][0]].Metrics[at[k][1]].family(worseP[k], betterP[k], floor, len(base), len(current))
	}
	res.FamilySize = len(tests)
	rk := newRankPower()
	for i := range res.Scenarios {
		for j := range res.Scenarios[i].Metrics {
			res.Scenarios[i].Metrics[j].power(spreads[i][j], metrics, rk)
		}
	}
	for _, sr := range res.Scenarios {
		for _, mr := range sr.Metrics {
			f := Finding{Scenario: sr.Name, Metric: mr.Metric, ChangePct: mr.ChangePct}
			if mr.FamilyP != nil {
				f.P = *mr.FamilyP
			}
			switch mr.Verdict {
			case Worse:
				res.Regressions = append(res.Regressions, f)
			case Better:
				res.Improvements = append(res.Improvements, f)
			}
		}
	}

	switch {
	case len(res.Failures) > 0:
		res.Outcome = Failed
	case len(res.Invalid) > 0:
		res.Outcome = Unjudged
	case len(res.Regressions) > 0:
		res.Outcome = Regression
	case underpowered(res):
		res.Outcome = Underpowered
	default:
		res.Outcome = OK
	}
	res.Headline = headline(res)
	return res, nil
}

// compareScenario judges every metric of one scenario and returns, per metric, its runs' values
// for the family-wise test (values nil when the metric cannot reach a verdict anyway).
func compareScenario(base, current []Input, name string, th Thresholds) (ScenarioResult, []familyTest) {
	sr := ScenarioResult{Name: name}
	sr.Notes = append(sr.Notes, leftOut(base, "base", name)...)
	sr.Notes = append(sr.Notes, leftOut(current, "current", name)...)
	sc := rampScope(base, current, name)
	if sc.windowRate < 0 {
		sr.Notes = append(sr.Notes, "no step rate reported by both sides: windows not compared, capacity and the p99 at the top common rate are")
	} else if sc.windowRate > 0 {
		sr.Notes = append(sr.Notes, fmt.Sprintf("windows compared at %g req/s, the step both sides reported most; runs at other steps left out of the window figures", sc.windowRate))
	}
	var tests []familyTest
	for _, m := range Metrics() {
		bv, bnotes := m.samples(base, name, sc)
		cv, cnotes := m.samples(current, name, sc)
		for _, n := range bnotes {
			sr.Notes = append(sr.Notes, "base "+n)
		}
		for _, n := range cnotes {
			sr.Notes = append(sr.Notes, "current "+n)
		}
		if len(bv) == 0 && len(cv) == 0 && len(bnotes) == 0 && len(cnotes) == 0 {
			continue // the scenario does not measure this (e.g. drain time outside shutdown)
		}
		lim := th.Metrics[m.Name]
		mr := judge(m, bv, cv, lim, th.Confidence)
		mr.runLevel(m.runMedians(base, name, sc), m.runMedians(current, name, sc))
		// Logarithms: a relative change is what the limits speak of, and latencies are skewed.
		// The offset keeps zeros (no errors, capacity 0) finite; the floor is half the relative limit.
		ft := familyTest{sdMin: math.Log1p(lim.MaxChangePct/100) / 2, worse: towardsBetter}
		if m.HigherIsWorse {
			ft.worse = towardsWorse
		}
		var logs []float64
		for _, in := range append(append([]Input(nil), base...), current...) {
			logs = append(logs, math.Log(m.runValue(in, name, sc)+lim.MinAbsChange))
		}
		if mr.Verdict != TooFew {
			ft.values = logs
		}
		ft.spread = newSpread(m, logs[:len(base)], logs[len(base):], lim, ft.sdMin)
		sr.Metrics = append(sr.Metrics, mr)
		tests = append(tests, ft)
	}
	return sr, tests
}

// family applies the family-wise adjusted p-value of the verdict's direction (the worse one for
// a verdict of neither): a better or worse verdict stands only when it is below alpha too.
func (mr *MetricResult) family(worseP, betterP, floor float64, nBase, nCurrent int) {
	p := worseP
	if mr.Verdict == Better {
		p = betterP
	}
	mr.FamilyP = &p
	if mr.Verdict != Worse && mr.Verdict != Better {
		return
	}
	if floor >= mr.Limit.Alpha {
		mr.Why = fmt.Sprintf("%s; but %d+%d runs cannot reach a family-wise p<%v (need ≥%d a side): not judged", mr.Why, nBase, nCurrent, mr.Limit.Alpha, needN(mr.Limit.Alpha))
		mr.Verdict = TooFew
		return
	}
	if p >= mr.Limit.Alpha {
		mr.Why = fmt.Sprintf("%s; but not significant once every metric of the comparison is accounted for (family-wise p=%.3g ≥ α): a change this size shows up by chance among this many metrics", mr.Why, p)
		mr.Verdict = Same
		return
	}
	mr.Why += fmt.Sprintf("; family-wise p=%.3g", p)
}

// invalidRuns names, per side, the runs with an INVALID scenario: their figures describe a
// generator that fell behind, so the comparison cannot judge the server from them.
func invalidRuns(base, current []Input) []string {
	var out []string
	for _, side := range []struct {
		name string
		in   []Input
	}{{"current", current}, {"base", base}} {
		var ids []string
		for _, i := range side.in {
			for _, s := range i.Run.Scenarios {
				if s.Verdict == summary.Invalid {
					ids = append(ids, fmt.Sprintf("%s (%s)", i.Run.ID, s.Name))
					break
				}
			}
		}
		if len(ids) > 0 {
			out = append(out, fmt.Sprintf("%d of %d %s runs INVALID: %s", len(ids), len(side.in), side.name, strings.Join(ids, ", ")))
		}
	}
	return out
}

// judge compares one metric's two samples.
func judge(m Metric, bv, cv []float64, lim Limit, confidence float64) MetricResult {
	mr := MetricResult{Metric: m.Name, Label: m.Label, Unit: m.Unit, HigherIsWorse: m.HigherIsWorse,
		PerRun: m.PerRun, Limit: lim}
	thr := &benchmath.Thresholds{CompareAlpha: lim.Alpha}
	// NewSample sorts in place; the callers' slices stay as they were.
	bs := benchmath.NewSample(append([]float64(nil), bv...), thr)
	cs := benchmath.NewSample(append([]float64(nil), cv...), thr)
	mr.Base = stat(bs, confidence, &mr)
	mr.Current = stat(cs, confidence, &mr)
	if len(bv) == 0 || len(cv) == 0 {
		mr.Verdict = TooFew
		mr.Why = fmt.Sprintf("no samples on the %s side", map[bool]string{true: "base", false: "current"}[len(bv) == 0])
		return mr
	}
	if mr.Base.Median != 0 {
		c := (mr.Current.Median - mr.Base.Median) / math.Abs(mr.Base.Median) * 100
		mr.ChangePct = &c
	}
	mr.MinP = minP(len(bv), len(cv))
	if mr.MinP >= lim.Alpha {
		mr.Verdict = TooFew
		unit := "windows"
		if m.PerRun {
			unit = "runs"
		}
		mr.Why = fmt.Sprintf("n=%d+%d %s cannot reach p<%v (need ≥%d per side)", len(bv), len(cv), unit, lim.Alpha, needN(lim.Alpha))
		return mr
	}
	cmp := benchmath.AssumeNothing.Compare(bs, cs)
	p := cmp.P
	mr.P = &p
	for _, w := range cmp.Warnings {
		mr.Warnings = append(mr.Warnings, w.Error())
	}
	diff := mr.Current.Median - mr.Base.Median
	if !m.HigherIsWorse {
		diff = -diff
	}
	rel := math.Inf(1) // base 0: any absolute change beyond MinAbsChange is beyond any percentage
	if mr.Base.Median != 0 {
		rel = math.Abs(diff) / math.Abs(mr.Base.Median) * 100
	}
	beyond := rel > lim.MaxChangePct && math.Abs(diff) > lim.MinAbsChange
	switch {
	case p >= lim.Alpha:
		mr.Verdict = Same
		mr.Why = fmt.Sprintf("p=%.3g ≥ α=%v: not significant", p, lim.Alpha)
	case !beyond:
		mr.Verdict = Same
		mr.Why = fmt.Sprintf("significant (p=%.3g) but within ±%v%% / ±%v%s", p, lim.MaxChangePct, lim.MinAbsChange, unitSuffix(m.Unit))
	case diff > 0:
		mr.Verdict = Worse
		mr.Why = fmt.Sprintf("p=%.3g < α=%v and beyond ±%v%% / ±%v%s", p, lim.Alpha, lim.MaxChangePct, lim.MinAbsChange, unitSuffix(m.Unit))
	default:
		mr.Verdict = Better
		mr.Why = fmt.Sprintf("p=%.3g < α=%v and beyond ±%v%% / ±%v%s", p, lim.Alpha, lim.MaxChangePct, lim.MinAbsChange, unitSuffix(m.Unit))
	}
	return mr
}

// runLevel applies the run-level check to a window metric judged better or worse: with enough
// runs a side, the per-run medians must differ significantly too, or the window-level
// significance came from one unlucky run and the verdict becomes "same". With fewer runs the
// window-level verdict stands and Why says the check could not be made.
func (mr *MetricResult) runLevel(bRuns, cRuns []float64) {
	if mr.PerRun {
		return
	}
	mr.RunN = [2]int{len(bRuns), len(cRuns)}
	if minP(len(bRuns), len(cRuns)) >= mr.Limit.Alpha {
		if mr.Verdict == Worse || mr.Verdict == Better {
			mr.Why += fmt.Sprintf("; runs not checked (%d+%d runs cannot reach p<%v)", len(bRuns), len(cRuns), mr.Limit.Alpha)
		}
		return
	}
	thr := &benchmath.Thresholds{CompareAlpha: mr.Limit.Alpha}
	cmp := benchmath.AssumeNothing.Compare(benchmath.NewSample(bRuns, thr), benchmath.NewSample(cRuns, thr))
	p := cmp.P
	mr.RunP = &p
	if mr.Verdict != Worse && mr.Verdict != Better {
		return
	}
	if p >= mr.Limit.Alpha {
		mr.Why = fmt.Sprintf("windows differ (%s) but per-run medians do not (runs p=%.3g ≥ α, n=%d+%d): run-to-run noise", mr.Why, p, len(bRuns), len(cRuns))
		mr.Verdict = Same
		return
	}
	mr.Why += fmt.Sprintf("; per-run medians differ too (runs p=%.3g, n=%d+%d)", p, len(bRuns), len(cRuns))
}

func unitSuffix(u string) string {
	switch u {
	case "", "ratio":
		return ""
	}
	return " " + u
}

func stat(s *benchmath.Sample, confidence float64, mr *MetricResult) Stat {
	st := Stat{N: len(s.Values)}
	if st.N == 0 {
		return st
	}
	sum := benchmath.AssumeNothing.Summary(s, confidence)
	st.Median, st.Confidence = sum.Center, sum.Confidence
	if !math.IsInf(sum.Lo, 0) && !math.IsNaN(sum.Lo) {
		lo := sum.Lo
		st.Lo = &lo
	}
	if !math.IsInf(sum.Hi, 0) && !math.IsNaN(sum.Hi) {
		hi := sum.Hi
		st.Hi = &hi
	}
	for _, w := range sum.Warnings {
		msg := w.Error()
		if !contains(mr.Warnings, msg) {
			mr.Warnings = append(mr.Warnings, msg)
		}
	}
	return st
}

// minP is the smallest two-sided p-value the U test can give for sample sizes n1 and n2 (all
// values of one side below all of the other, no ties): 2 / C(n1+n2, n1). When it is not below
// alpha, no data could show a difference, and "same" would be a false reassurance.
func minP(n1, n2 int) float64 {
	// log C(n1+n2, n1) via lgamma, so large window counts do not overflow.
	lc, _ := math.Lgamma(float64(n1 + n2 + 1))
	l1, _ := math.Lgamma(float64(n1 + 1))
	l2, _ := math.Lgamma(float64(n2 + 1))
	return math.Min(1, 2*math.Exp(-(lc-l1-l2)))
}

// needN is the smallest equal per-side sample size whose minP is below alpha.
func needN(alpha float64) int {
	for n := 1; n < 100; n++ {
		if minP(n, n) < alpha {
			return n
		}
	}
	return 100
}

func refs(in []Input) []RunRef {
	out := make([]RunRef, 0, len(in))
	for _, i := range in {
		out = append(out, RunRef{ID: i.Run.ID, Path: i.Path, Commit: i.Run.Env.Commit, Dirty: i.Run.Env.Dirty,
			Profile: i.Run.Settings.Profile, Verdict: i.Run.Verdict})
	}
	return out
}

func scenarioNames(in []Input) map[string]bool {
	m := map[string]bool{}
	for _, i := range in {
		for _, s := range i.Run.Scenarios {
			m[s.Name] = true
		}
	}
	return m
}

// ScenarioOrder lists scenario names in the order they first appear (the runner's order).
func ScenarioOrder(in []Input) []string {
	seen := map[string]bool{}
	var out []string
	for _, i := range in {
		for _, s := range i.Run.Scenarios {
			if !seen[s.Name] {
				seen[s.Name] = true
				out = append(out, s.Name)
			}
		}
	}
	return out
}

// failures lists every scenario of every CURRENT run that did not pass on its own checks.
// FAIL on a correctness check is a correctness failure; INTERRUPTED means CURRENT did not finish,
// which must not pass a gate either. A FAIL whose failed checks are all absolute performance
// objectives goes to perf instead. INVALID and SKIPPED say nothing against the server and are
// noted per scenario.
func failures(base, current []Input) (correctness, perf []Failure) {
	baseFailed := map[string][]string{}
	for _, b := range base {
		for _, s := range b.Run.Scenarios {
			if s.Verdict == summary.Fail || s.Verdict == summary.Interrupted {
				baseFailed[s.Name] = append(baseFailed[s.Name], b.Run.ID)
			}
		}
	}
	for _, c := range current {
		for _, s := range c.Run.Scenarios {
			if s.Verdict != summary.Fail && s.Verdict != summary.Interrupted {
				continue
			}
			reasons := s.Reasons
			if len(reasons) == 0 {
				for _, ch := range s.Checks {
					if !ch.Pass {
						reasons = append(reasons, fmt.Sprintf("%s: want %s, got %s", ch.Name, ch.Want, ch.Got))
					}
				}
			}
			f := Failure{Scenario: s.Name, Run: c.Run.ID, Verdict: s.Verdict, Reasons: reasons}
			if ids := baseFailed[s.Name]; len(ids) > 0 {
				f.BaseFailed = true
				f.BaseSummary = fmt.Sprintf("failed in %d of %d base runs too", len(ids), len(base))
			} else {
				f.BaseSummary = fmt.Sprintf("passed in all %d base runs", len(base))
			}
			if s.Verdict == summary.Fail && performanceOnly(s.Checks) {
				perf = append(perf, f)
			} else {
				correctness = append(correctness, f)
			}
		}
	}
	return correctness, perf
}

// performanceOnly says whether every failed check is a performance objective. A FAIL with no
// failed check recorded is not: without evidence, it counts as correctness.
func performanceOnly(checks []summary.Check) bool {
	failed := 0
	for _, ch := range checks {
		if ch.Pass || ch.Kind == summary.Validity {
			continue
		}
		failed++
		if !isPerformance(ch) {
			return false
		}
	}
	return failed > 0
}

func isPerformance(ch summary.Check) bool {
	return ch.Kind == summary.Performance
}

func leftOut(in []Input, side, name string) []string {
	var out []string
	for _, i := range in {
		if s, ok := findScenario(i.Run, name); ok && !judged(s.Verdict) {
			out = append(out, fmt.Sprintf("%s run %s left out of the statistics: %s", side, i.Run.ID, s.Verdict))
		}
	}
	return out
}

// comparability warns when the two sides were not measured alike; the comparison still runs,
// because the reader may know better (e.g. a deliberate profile change).
func comparability(base, current []Input) []string {
	var notes []string
	set := func(in []Input, f func(summary.Run) string) []string {
		m := map[string]bool{}
		for _, i := range in {
			m[f(i.Run)] = true
		}
		var s []string
		for k := range m {
			s = append(s, k)
		}
		sort.Strings(s)
		return s
	}
	checks := []struct {
		what string
		f    func(summary.Run) string
	}{
		{"Go version", func(r summary.Run) string { return r.Env.GoVersion }},
	}
	for _, c := range checks {
		b, cur := set(base, c.f), set(current, c.f)
		if fmt.Sprint(b) != fmt.Sprint(cur) {
			notes = append(notes, fmt.Sprintf("%s differs: base %v, current %v", c.what, b, cur))
		}
	}
	return notes
}

func headline(r Result) string {
	var parts []string
	if len(r.Invalid) > 0 && len(r.Failures) == 0 {
		return "cannot judge: " + strings.Join(r.Invalid, "; ")
	}
	if n := len(r.Failures); n > 0 {
		parts = append(parts, plural(n, "correctness failure", "correctness failures")+" in current")
	}
	if r.Outcome == Underpowered {
		return "cannot judge: " + blindSpots(r)
	}
	if n := len(r.Regressions); n > 0 {
		s := plural(n, "significant regression", "significant regressions") + " ("
		for i, f := range r.Regressions {
			if i > 0 {
				s += ", "
			}
			s += f.Scenario + " " + f.Metric + " " + pct(f.ChangePct)
		}
		parts = append(parts, s+")")
	}
	if len(parts) == 0 {
		s := "no significant change"
		if n := len(r.Improvements); n > 0 {
			s = "no significant regression; " + plural(n, "improvement", "improvements")
		}
		if b := blindSpots(r); b != "" {
			s += " in what these runs could see; they could not have seen a change of the limit's size in " + b
		}
		return s
	}
	out := parts[0]
	for _, p := range parts[1:] {
		out += "; " + p
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func pct(p *float64) string {
	if p == nil {
		return "(base 0)"
	}
	return fmt.Sprintf("%+.1f%%", *p)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
