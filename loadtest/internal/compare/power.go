package compare

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/aclements/go-moremath/stats"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// What a comparison could have seen. "No significant change" after 1 run against 1 means
// nothing: compare says, per metric, the smallest true change it would have called worse with
// probability Power (the minimum detectable effect, MDE), and calls the metric INCONCLUSIVE
// when that is beyond the metric's limit.
//
// A verdict of worse needs two run-level tests (compare.go): the U test on the runs' values at
// α (two-sided, benchmath), and the one-sided Welch t test on their logarithms at the
// family-wise level, whose first Holm step is α/m for m metrics. A change must pass both, so
// the MDE is the larger of the two tests' MDEs, in log units (the limits are relative), with σ
// the runs' pooled standard deviation of log(value + min_abs_change):
//
//   - t test: δ = t(1−α/m, ν)·s·√(1/n₁+1/n₂) + z(Power)·σ·√(1/n₁+1/n₂), the normal
//     approximation with the test's denominator s = max(σ, floor) fixed (the floor, half the
//     relative limit, is what the test divides by when the runs agree better than that).
//   - U test: the shift of a normal sample, in units of σ, that the exact U test at these
//     sample sizes rejects with probability Power, found by simulation with a fixed seed (the
//     test is invariant to location and scale, so one number per pair of sizes); Noether's
//     normal approximation past rankExactMax runs a side.
//
// Windows give tens of samples per run, so the window-level U test is never the binding one
// once the runs are; it is left out.

// Power is the probability of detection the MDE is computed at.
const Power = 0.8

// rankExactMax is the largest side for which the U test's power is simulated exactly.
const rankExactMax = 20

// mdeLog is the MDE in log units for n1 and n2 runs, σ the runs' spread (log units), floor the
// family test's floor of it, alpha the metric's level and m the family size. +Inf: no change
// could be detected (a side with fewer than two runs, or sizes whose U test cannot reach α).
func mdeLog(n1, n2 int, sigma, floor, alpha float64, m int, rk *rankPower) float64 {
	return math.Max(familyMDE(n1, n2, sigma, floor, alpha, m), rankMDE(n1, n2, sigma, alpha, rk))
}

// familyMDE is the t test's part of mdeLog.
func familyMDE(n1, n2 int, sigma, floor, alpha float64, m int) float64 {
	if n1 < 2 || n2 < 2 {
		return math.Inf(1)
	}
	se := math.Sqrt(1/float64(n1) + 1/float64(n2))
	df := float64(n1 + n2 - 2)
	return tQuantile(1-alpha/float64(max(m, 1)), df)*math.Max(sigma, floor)*se + normQuantile(Power)*sigma*se
}

// rankMDE is the U test's part of mdeLog.
func rankMDE(n1, n2 int, sigma, alpha float64, rk *rankPower) float64 {
	k := rk.shift(n1, n2, alpha)
	if math.IsInf(k, 1) {
		return k
	}
	return k * sigma
}

// runsNeeded is the smallest n such that n runs a side give an MDE within limit (log units);
// 0 when none up to maxRuns does.
func runsNeeded(sigma, floor, alpha float64, m int, limit float64, rk *rankPower) int {
	for n := 2; n <= maxRuns; n++ {
		// The t test's part first: it is cheap, and while it is beyond the limit the U
		// test's simulation need not run.
		if familyMDE(n, n, sigma, floor, alpha, m) <= limit && rankMDE(n, n, sigma, alpha, rk) <= limit {
			return n
		}
	}
	return 0
}

// maxRuns bounds the search for the runs a comparison would need.
const maxRuns = 64

// rankPower caches the U test's detectable shift per pair of sizes, in units of σ.
type rankPower struct{ cache map[[2]int]float64 }

func newRankPower() *rankPower { return &rankPower{cache: map[[2]int]float64{}} }

// shift is the normal location shift, in σ, that the two-sided exact U test at alpha detects
// with probability Power; +Inf when no data can reach alpha at these sizes.
func (rp *rankPower) shift(n1, n2 int, alpha float64) float64 {
	if minP(n1, n2) >= alpha {
		return math.Inf(1)
	}
	if n1 > rankExactMax || n2 > rankExactMax {
		// Noether: P(Y > X) − ½ = (z(1−α/2) + z(Power))·√((n₁+n₂+1)/(12·n₁·n₂)), and under a
		// normal shift δ, P(Y > X) = Φ(δ/(σ√2)).
		q := (normQuantile(1-alpha/2) + normQuantile(Power)) * math.Sqrt(float64(n1+n2+1)/(12*float64(n1*n2)))
		if q >= 0.5 {
			return math.Inf(1)
		}
		return math.Sqrt2 * normQuantile(0.5+q)
	}
	key := [2]int{n1, n2}
	if k, ok := rp.cache[key]; ok {
		return k
	}
	crit := uCritical(n1, n2, alpha)
	const sims = 1000
	rng := rand.New(rand.NewPCG(uint64(n1), uint64(n2)))
	x := make([]float64, n1*sims)
	y := make([]float64, n2*sims)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	for i := range y {
		y[i] = rng.NormFloat64()
	}
	power := func(d float64) float64 {
		hits := 0
		for s := range sims {
			u := 0 // pairs where the current value is not above the base one
			for _, xv := range x[s*n1 : (s+1)*n1] {
				for _, yv := range y[s*n2 : (s+1)*n2] {
					if yv+d <= xv {
						u++
					}
				}
			}
			if u <= crit {
				hits++
			}
		}
		return float64(hits) / sims
	}
	lo, hi := 0.0, 1.0
	for power(hi) < Power {
		hi *= 2
	}
	for range 14 { // to 1/16000 of the bracket: finer than 1000 draws resolve
		mid := (lo + hi) / 2
		if power(mid) >= Power {
			hi = mid
		} else {
			lo = mid
		}
	}
	rp.cache[key] = hi
	return hi
}

// uCritical is the largest U (pairs in the wrong order) at which the exact two-sided U test
// rejects at alpha: 2·P(U ≤ u) < alpha under the null; −1 when none.
func uCritical(n1, n2 int, alpha float64) int {
	// f[i][j][u]: orderings of i base and j current values with u wrong-order pairs.
	f := make([][][]float64, n1+1)
	for i := range f {
		f[i] = make([][]float64, n2+1)
		for j := range f[i] {
			f[i][j] = make([]float64, i*j+1)
			if i == 0 || j == 0 {
				f[i][j][0] = 1
				continue
			}
			for u := range f[i][j] {
				// The largest value is a base one (beats every current: j pairs) or a current one.
				if u >= j && u-j < len(f[i-1][j]) {
					f[i][j][u] += f[i-1][j][u-j]
				}
				if u < len(f[i][j-1]) {
					f[i][j][u] += f[i][j-1][u]
				}
			}
		}
	}
	total, cum, crit := 0.0, 0.0, -1
	for _, c := range f[n1][n2] {
		total += c
	}
	for u, c := range f[n1][n2] {
		cum += c
		if 2*cum/total >= alpha {
			break
		}
		crit = u
	}
	return crit
}

func normQuantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// tQuantile inverts Student's t distribution's CDF by bisection.
func tQuantile(p, df float64) float64 {
	d := stats.TDist{V: df}
	lo, hi := 0.0, 1.0
	for d.CDF(hi) < p {
		hi *= 2
	}
	for range 60 {
		mid := (lo + hi) / 2
		if d.CDF(mid) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// pooledSD is the pooled standard deviation of the two sides' values (NaN left out); ok is
// false when neither side has two values.
func pooledSD(base, current []float64) (float64, bool) {
	var ss float64
	df := 0
	for _, side := range [][]float64{base, current} {
		var n, sum float64
		for _, v := range side {
			if !math.IsNaN(v) {
				n, sum = n+1, sum+v
			}
		}
		if n < 2 {
			continue
		}
		mean := sum / n
		for _, v := range side {
			if !math.IsNaN(v) {
				ss += (v - mean) * (v - mean)
			}
		}
		df += int(n) - 1
	}
	if df == 0 {
		return 0, false
	}
	return math.Sqrt(ss / float64(df)), true
}

// spread is one metric's run values as the power computation needs them.
type spread struct {
	n1, n2 int     // runs with a value, base and current
	sigma  float64 // pooled standard deviation of log(value + min_abs_change)
	known  bool    // false: no side had two runs, sigma is the floor
	floor  float64 // the family test's floor of sigma
	// limit is the smallest change the limits call worth failing for, in log units: beyond
	// max_change_pct of the base median and beyond min_abs_change, in the worse direction.
	limit float64
	base  float64 // the base runs' median value
	a     float64 // min_abs_change, the logarithms' offset
	worse float64 // +1 higher is worse, −1 lower is
}

func newSpread(m Metric, baseLog, curLog []float64, lim Limit, floor float64) spread {
	sp := spread{floor: floor, a: lim.MinAbsChange, worse: -1}
	if m.HigherIsWorse {
		sp.worse = 1
	}
	var raw []float64
	for _, v := range baseLog {
		if !math.IsNaN(v) {
			sp.n1++
			raw = append(raw, math.Exp(v)-lim.MinAbsChange)
		}
	}
	for _, v := range curLog {
		if !math.IsNaN(v) {
			sp.n2++
		}
	}
	sp.sigma, sp.known = pooledSD(baseLog, curLog)
	if !sp.known {
		sp.sigma = floor
	}
	if len(raw) > 0 {
		sp.base = median(raw)
	}
	step := math.Max(lim.MaxChangePct/100*math.Abs(sp.base), lim.MinAbsChange)
	if sp.worse > 0 {
		sp.limit = math.Log((sp.base + step + sp.a) / (sp.base + sp.a))
	} else if low := sp.base - step + sp.a; low > 0 {
		sp.limit = math.Log((sp.base + sp.a) / low)
	} else {
		sp.limit = math.Inf(1) // it cannot fall that far: any detectable drop is enough
	}
	return sp
}

// change converts a change of log(value + a) in the worse direction to the metric's unit.
func (sp spread) change(d float64) float64 {
	if sp.worse > 0 {
		return (sp.base + sp.a) * math.Expm1(d)
	}
	return (sp.base + sp.a) * -math.Expm1(-d)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// power sets the metric's minimum detectable effect and, when it is beyond the limit and the
// metric was not found better or worse, makes it INCONCLUSIVE with the runs it would need. m
// is how many metrics the comparison tests.
func (mr *MetricResult) power(sp spread, m int, rk *rankPower) {
	if sp.n1 == 0 || sp.n2 == 0 || mr.Verdict == Worse || mr.Verdict == Better {
		return
	}
	d := mdeLog(sp.n1, sp.n2, sp.sigma, sp.floor, mr.Limit.Alpha, m, rk)
	mr.Power = &PowerResult{Runs: [2]int{sp.n1, sp.n2}, SigmaLog: sp.sigma, SpreadKnown: sp.known,
		LimitChange: sp.change(sp.limit)}
	if !math.IsInf(d, 1) {
		c := sp.change(d)
		mr.Power.MDE = &c
		if math.Abs(sp.base) > sp.a { // below it the absolute limit binds and a percentage misleads
			pc := c / math.Abs(sp.base) * 100
			mr.Power.MDEPct = &pc
		}
	}
	if d <= sp.limit {
		return
	}
	mr.Power.NeedRuns = runsNeeded(sp.sigma, sp.floor, mr.Limit.Alpha, m, sp.limit, rk)
	mr.Verdict = Inconclusive
	could := "no change at all"
	if mr.Power.MDE != nil {
		could = "only a change of " + fmtVal(*mr.Power.MDE, mr.Unit) + " or more"
		if mr.Power.MDEPct != nil {
			could += fmt.Sprintf(" (%.0f%%)", *mr.Power.MDEPct)
		}
	}
	need := fmt.Sprintf("more than %d runs a side", maxRuns)
	if n := mr.Power.NeedRuns; n > 0 {
		need = fmt.Sprintf("%d runs a side", n)
		if !sp.known {
			need = "at least " + need + " (no side had two runs to measure the spread)"
		}
	}
	why := fmt.Sprintf("cannot judge: %d+%d runs could detect %s with %.0f%% power, and the limit is %s; need %s",
		sp.n1, sp.n2, could, Power*100, fmtVal(mr.Power.LimitChange, mr.Unit), need)
	if mr.Why != "" { // what the tests said stays: the p-values behind the verdict
		why = mr.Why + "; " + why
	}
	mr.Why = why
}

// underpowered says whether a comparison that found nothing worse must not pass: a metric
// whose limits require power could not have seen a limit-sized change, or no metric could.
func underpowered(r Result) bool {
	judged, blind := 0, 0
	for _, s := range r.Scenarios {
		for _, mr := range s.Metrics {
			if mr.Power == nil {
				continue
			}
			judged++
			if mr.Verdict == Inconclusive {
				blind++
				if mr.Limit.RequirePower {
					return true
				}
			}
		}
	}
	return judged > 0 && blind == judged
}

// blindSpots names the metrics judged "cannot judge", with the runs each would need, for the
// headline; "" when there are none.
func blindSpots(r Result) string {
	var names []string
	total := 0
	for _, s := range r.Scenarios {
		for _, mr := range s.Metrics {
			if mr.Power == nil {
				continue
			}
			total++
			if mr.Verdict != Inconclusive {
				continue
			}
			need := fmt.Sprintf(">%d", maxRuns)
			if n := mr.Power.NeedRuns; n > 0 {
				need = fmt.Sprint(n)
				if !mr.Power.SpreadKnown {
					need = "≥" + need
				}
			}
			names = append(names, fmt.Sprintf("%s %s (%s runs a side)", s.Name, mr.Metric, need))
		}
	}
	if len(names) == 0 {
		return ""
	}
	// The verdict table lists them all; a headline that names thirty is not read.
	const named = 6
	blind := len(names)
	if blind > named {
		names = append(names[:named], fmt.Sprintf("and %d more", blind-named))
	}
	return fmt.Sprintf("%d of %d metrics: %s", blind, total, strings.Join(names, ", "))
}

// Unlike returns an error naming every run that was not measured like the first base run
// (another profile, load setting, machine kind or GOMAXPROCS: summary.Like), and how: a
// difference between such runs is not the server's.
func Unlike(base, current []Input) error {
	ref := summary.LikeOf(base[0].Run)
	var bad []string
	for side, in := range [][]Input{base, current} {
		for _, i := range in {
			if d := ref.Differs(summary.LikeOf(i.Run)); len(d) > 0 {
				bad = append(bad, fmt.Sprintf("%s run %s (%s)", []string{"base", "current"}[side], i.Run.ID, strings.Join(d, ", ")))
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("refused unlike runs, not measured like base run %s: %s", base[0].Run.ID, strings.Join(bad, "; "))
}
