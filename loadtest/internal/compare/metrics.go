package compare

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Metric is one figure compare judges, and where its samples come from.
//
// Window metrics take one sample per full per-second window of every run (so one run gives
// tens of samples); run metrics take one sample per run (so they need repeated runs before the
// U test can reach significance).
type Metric struct {
	Name          string // key in the thresholds file and compare.json
	Label         string // for the Markdown report
	Unit          string // "ms", "req/s", "ratio" (0..1, shown as %), "" (a count)
	HigherIsWorse bool
	PerRun        bool

	window func(w summary.Window) (float64, bool)
	// run returns the scenario's value, whether it has one, and a note when the value exists
	// but cannot be used (e.g. "never settled").
	run func(s summary.Scenario, sc scope) (float64, bool, string)
}

// scope is what makes one scenario's runs comparable across the two sides. Only the ramp needs
// it: its windows come from the step it reported (its capacity), which may differ between runs,
// and comparing 400 req/s windows with 100 req/s ones would measure the rate, not the server.
type scope struct {
	windowRate float64 // ramp: windows count only from runs that reported this step rate; 0: any
	stepRate   float64 // ramp: the highest step rate both sides ran with the generator keeping up
	// cpuRates are the ramp's own rates after the first that every run of both sides ran with
	// its CPU measured, and most of those runs met with the generator keeping up: where the
	// server's CPU is compared. When every run held one of them for the CPU
	// (-ramp-cpu-hold), that rate alone.
	cpuRates []float64
}

// Metrics returns the judged metrics in report order.
func Metrics() []Metric {
	return []Metric{
		{Name: "p50_ms", Label: "p50 latency", Unit: "ms", HigherIsWorse: true,
			window: func(w summary.Window) (float64, bool) { return w.P50, w.Requests > 0 }},
		{Name: "p99_ms", Label: "p99 latency", Unit: "ms", HigherIsWorse: true,
			window: func(w summary.Window) (float64, bool) { return w.P99, w.Requests > 0 }},
		{Name: "throughput", Label: "throughput", Unit: "req/s", HigherIsWorse: false,
			window: func(w summary.Window) (float64, bool) { return w.Throughput, true }},
		{Name: "error_ratio", Label: "error ratio", Unit: "ratio", HigherIsWorse: true,
			window: func(w summary.Window) (float64, bool) {
				if w.Requests == 0 {
					return 0, false
				}
				return float64(w.Errors) / float64(w.Requests), true
			}},
		{Name: "goroutines_peak", Label: "goroutine peak", Unit: "", HigherIsWorse: true, PerRun: true,
			run: func(s summary.Scenario, _ scope) (float64, bool, string) {
				// 0 means the sampler never read /metrics: no figure rather than a perfect one.
				return s.Server.GoroutinesPeak, s.Server.GoroutinesPeak > 0, ""
			}},
		{Name: "server_cpu_ratio", Label: "server CPU ÷ harness CPU per request", Unit: "×", HigherIsWorse: true, PerRun: true,
			run: func(s summary.Scenario, sc scope) (float64, bool, string) {
				// The server's CPU per request over the harness's in the same span: how fast the
				// shared machine ran that minute moves both alike, a server that does more work
				// per request moves only one (docs/compare.md, "How well it works").
				if s.Ramp != nil {
					// A request's CPU falls with the rate (fixed costs spread over more
					// requests), so the ramp's is read at rates every run of both sides ran (scope.cpuRates):
					// the step held for the CPU, or for runs without one the geometric mean
					// of the ratios at the rates below the knee, where no run drops out
					// because it missed the top one (a CPU regression brings the knee down).
					return rampCPU(s, sc)
				}
				// 0: not measured (an external target, a server that exited: shutdown).
				r := cpuRatio(s.Server.CPUPerRequestUs, s.Server.HarnessCPUPerRequestUs)
				return r, r > 0, ""
			}},
		{Name: "settle_ms", Label: "settle time", Unit: "ms", HigherIsWorse: true, PerRun: true,
			run: func(s summary.Scenario, _ scope) (float64, bool, string) {
				// The shutdown scenario stops the server: there is nothing left to settle.
				if s.Server.GoroutinesPeak == 0 || s.Shutdown != nil {
					return 0, false, ""
				}
				if s.Server.SettleMs < 0 {
					return 0, false, "goroutines never settled"
				}
				return s.Server.SettleMs, true, ""
			}},
		{Name: "drain_ms", Label: "shutdown drain time", Unit: "ms", HigherIsWorse: true, PerRun: true,
			run: func(s summary.Scenario, _ scope) (float64, bool, string) {
				if s.Shutdown == nil {
					return 0, false, ""
				}
				if s.Shutdown.DrainMs < 0 {
					return 0, false, "server never exited"
				}
				return s.Shutdown.DrainMs, true, ""
			}},
		{Name: "cleanup_ms", Label: "cancel cleanup time", Unit: "ms", HigherIsWorse: true, PerRun: true,
			run: func(s summary.Scenario, _ scope) (float64, bool, string) {
				if s.Cancel == nil {
					return 0, false, ""
				}
				if s.Cancel.CleanupMs < 0 {
					return 0, false, "cancelled queries never cleaned up"
				}
				return s.Cancel.CleanupMs, true, ""
			}},
		{Name: "capacity_rps", Label: "ramp capacity", Unit: "req/s", HigherIsWorse: false, PerRun: true,
			run: func(s summary.Scenario, _ scope) (float64, bool, string) {
				// Each run's own capacity (0: no step met the SLO, the worst there is).
				if s.Ramp == nil {
					return 0, false, ""
				}
				return s.Ramp.CapacityRate, true, ""
			}},
		{Name: "ramp_p99_ms", Label: "ramp p99 at the top common rate", Unit: "ms", HigherIsWorse: true, PerRun: true,
			run: func(s summary.Scenario, sc scope) (float64, bool, string) {
				if s.Ramp == nil {
					return 0, false, ""
				}
				return rampStep(s, sc, func(st summary.RampStep) float64 { return st.P99Ms })
			}},
	}
}

func cpuRatio(server, harness float64) float64 {
	if server <= 0 || harness <= 0 {
		return 0
	}
	return server / harness
}

// rampCPU is the geometric mean of a ramp run's server-to-harness CPU ratios at sc.cpuRates.
func rampCPU(s summary.Scenario, sc scope) (float64, bool, string) {
	if len(sc.cpuRates) == 0 {
		return 0, false, ""
	}
	var sum float64
	for _, rate := range sc.cpuRates {
		r := 0.0
		for _, st := range s.Ramp.Steps {
			if st.Rate == rate && !st.Retried && !st.Refined {
				r = cpuRatio(st.CPUPerRequestUs, st.HarnessCPUPerRequestUs)
			}
		}
		if r <= 0 {
			return 0, false, fmt.Sprintf("no CPU measured at %g req/s", rate)
		}
		sum += math.Log(r)
	}
	return math.Exp(sum / float64(len(sc.cpuRates))), true, ""
}

// rampStep returns a figure of the ramp step at the top common rate (sc.stepRate) that the
// generator kept up with (a retried first try counts no more).
func rampStep(s summary.Scenario, sc scope, figure func(summary.RampStep) float64) (float64, bool, string) {
	if sc.stepRate == 0 {
		return 0, false, ""
	}
	for _, st := range s.Ramp.Steps {
		if st.Rate == sc.stepRate && st.Valid && !st.Retried && figure(st) > 0 {
			return figure(st), true, ""
		}
	}
	return 0, false, fmt.Sprintf("no valid %g req/s step", sc.stepRate)
}

// rampScope picks, for a ramp scenario, the step rate whose windows are compared (the rate most
// runs reported among those both sides reported) and the highest step rate that a majority of
// each side's runs ran with the generator keeping up. Other scenarios get the zero scope.
func rampScope(base, current []Input, scenario string) scope {
	reported := [2]map[float64]int{{}, {}}
	valid := [2]map[float64]int{{}, {}}
	met := [2]map[float64]int{{}, {}}
	measured := map[float64]int{} // own rates with their CPU measured, counted over all runs
	held := map[float64]int{}     // of those, the steps held for the CPU (-ramp-cpu-hold)
	runs := [2]int{}
	for side, in := range [][]Input{base, current} {
		for _, i := range in {
			s, ok := findScenario(i.Run, scenario)
			if !ok || s.Ramp == nil || !judged(s.Verdict) {
				continue
			}
			runs[side]++
			reported[side][s.TargetRate]++
			for _, st := range s.Ramp.Steps {
				// The ramp's own rates, which every run tries: a refinement's rate depends on
				// where that run's knee was.
				if st.Refined || st.Retried {
					continue
				}
				// A step where the generator fell behind still measured the CPU of the
				// requests it sent; only its latencies are not the users'. Requiring a valid
				// step would drop the rate that shows a CPU change best from many comparisons.
				if cpuRatio(st.CPUPerRequestUs, st.HarnessCPUPerRequestUs) > 0 {
					measured[st.Rate]++
					if st.CPUHold {
						held[st.Rate]++
					}
				}
				if st.Valid {
					valid[side][st.Rate]++
					if st.WithinSLO {
						met[side][st.Rate]++
					}
				}
			}
		}
	}
	var sc scope
	best := 0
	for r, n := range reported[0] {
		if m := reported[1][r]; m > 0 && (n+m > best || n+m == best && r > sc.windowRate) {
			sc.windowRate, best = r, n+m
		}
	}
	for r, n := range valid[0] {
		if 2*n > runs[0] && 2*valid[1][r] > runs[1] && r > sc.stepRate {
			sc.stepRate = r
		}
	}
	if runs[0] == 0 || runs[1] == 0 {
		return scope{}
	}
	first := math.Inf(1) // the first own rate carries the scenario's warm-up of a cold server
	for r := range measured {
		first = math.Min(first, r)
	}
	for r, n := range measured {
		// CPU per request only at rates most runs (both sides together) met: past the knee
		// the server's CPU is capped by the cores while requests queue, so the figure
		// measures the machine's limit and the backlog rather than the work a request costs.
		// Not "most of each side": healthy runs miss a rate now and then, and a draw with two
		// of them would lose the rate that shows a CPU change best.
		if n == runs[0]+runs[1] && r > first && 2*(met[0][r]+met[1][r]) > n {
			sc.cpuRates = append(sc.cpuRates, r)
		}
	}
	sort.Float64s(sc.cpuRates)
	// A rate every run held for the CPU is read alone: held for seconds, its figure is steadier
	// than the mean of three one-second steps (docs/design/compare.md has the detection rates).
	for r, n := range held {
		if n == runs[0]+runs[1] && slices.Contains(sc.cpuRates, r) {
			sc.cpuRates = []float64{r}
			break
		}
	}
	if sc.windowRate == 0 {
		sc.windowRate = -1 // no rate in common: no ramp windows are comparable
	}
	return sc
}

// samples collects a metric's samples for one scenario over the runs of one side. notes says
// which runs gave no usable value and why.
func (m Metric) samples(runs []Input, scenario string, sc scope) (values []float64, notes []string) {
	for _, in := range runs {
		s, ok := findScenario(in.Run, scenario)
		if !ok || !judged(s.Verdict) {
			continue
		}
		if m.PerRun {
			v, ok, why := m.run(s, sc)
			if ok {
				values = append(values, v)
			} else if why != "" {
				notes = append(notes, fmt.Sprintf("%s: %s", in.Run.ID, why))
			}
			continue
		}
		if sc.windowRate != 0 && s.TargetRate != sc.windowRate {
			continue // a ramp run that reported another step: its windows measure another rate
		}
		for _, w := range fullWindows(s.Windows) {
			if v, ok := m.window(w); ok {
				values = append(values, v)
			}
		}
	}
	return values, notes
}

// runMedians is one value per run for a window metric: the median of that run's windows. The
// run, not the window, is the unit that varies independently (a run that drew a slow moment is
// slow in all its windows), so a difference must also hold across runs to count.
func (m Metric) runMedians(runs []Input, scenario string, sc scope) []float64 {
	if m.PerRun {
		return nil
	}
	var out []float64
	for _, in := range runs {
		if v := m.runValue(in, scenario, sc); !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	return out
}

// runValue is one run's value of the metric: its per-run figure, or the median of its windows;
// NaN when the run gives none. The family-wise test takes one per run.
func (m Metric) runValue(in Input, scenario string, sc scope) float64 {
	v, _ := m.samples([]Input{in}, scenario, sc)
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	mid := len(v) / 2
	if len(v)%2 == 0 {
		return (v[mid-1] + v[mid]) / 2
	}
	return v[mid]
}

// judged says whether a scenario's figures describe the server: skipped scenarios have none,
// invalid ones measured a generator that fell behind, interrupted ones were cut short.
func judged(v summary.Verdict) bool {
	return v == summary.Pass || v == summary.Fail
}

// fullWindows drops the first and last window when they are partial (fewer than half the
// median window's requests): the attack rarely starts and ends on a window boundary, and a half
// window would read as half the throughput. Inner windows are kept even when small, because a
// ramp or a shutdown legitimately changes the rate.
func fullWindows(ws []summary.Window) []summary.Window {
	if len(ws) < 3 {
		return ws
	}
	counts := make([]int64, len(ws))
	for i, w := range ws {
		counts[i] = w.Requests
	}
	sort.Slice(counts, func(i, j int) bool { return counts[i] < counts[j] })
	half := counts[len(counts)/2] / 2
	lo, hi := 0, len(ws)
	if ws[0].Requests < half {
		lo++
	}
	if ws[len(ws)-1].Requests < half {
		hi--
	}
	return ws[lo:hi]
}

func findScenario(r summary.Run, name string) (summary.Scenario, bool) {
	for _, s := range r.Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return summary.Scenario{}, false
}

// RunValues returns, per metric the scenario measures, one value per run (NaN where a run gives
// none: a per-run figure, or the median of its windows), read as compare reads one side made of
// all the runs. history draws its series from it, so both judge the same figures.
func RunValues(runs []Input, scenario string) map[string][]float64 {
	sc := rampScope(runs, runs, scenario)
	out := map[string][]float64{}
	for _, m := range Metrics() {
		vals := make([]float64, len(runs))
		seen := false
		for i, in := range runs {
			vals[i] = m.runValue(in, scenario, sc)
			seen = seen || !math.IsNaN(vals[i])
		}
		if seen {
			out[m.Name] = vals
		}
	}
	return out
}
