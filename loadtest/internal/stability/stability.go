// Package stability summarises repeated runs of the same scenarios (`loadtest run -repeat N`):
// per scenario, how often each verdict came out and how much the key figures moved from run to
// run (median, min, max, coefficient of variation). It answers "is this benchmark stable enough
// to gate on?" before anyone gates on it.
package stability

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Report is stability.json.
type Report struct {
	Runs      []string   `json:"runs"` // run folder names, in run order
	Scenarios []Scenario `json:"scenarios"`
}

// Scenario is one scenario across the runs.
type Scenario struct {
	Name     string                  `json:"name"`
	Verdicts map[summary.Verdict]int `json:"verdicts"`
	Reasons  []string                `json:"reasons,omitempty"` // "run ID: reason" of each run that did not pass
	Figures  []Figure                `json:"figures"`
}

// Figure is one key figure's spread across the runs that measured it.
type Figure struct {
	Name   string    `json:"name"`
	Values []float64 `json:"values"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	CV     float64   `json:"cv"` // standard deviation / mean (0 when the mean is 0)
}

// figures are the key figures of a scenario, in report order.
func figures(s summary.Scenario) []struct {
	name string
	v    float64
} {
	out := []struct {
		name string
		v    float64
	}{
		{"p50 ms", s.Latency.P50}, {"p99 ms", s.Latency.P99},
		{"p99 ms from the intended send", s.LatencyIntended.P99}, {"achieved rate /s", s.AchievedRate},
	}
	add := func(name string, v float64) {
		out = append(out, struct {
			name string
			v    float64
		}{name, v})
	}
	if c := s.Cancel; c != nil {
		add("cleanup ms", c.CleanupMs)
	}
	if sh := s.Shutdown; sh != nil {
		add("drain ms", sh.DrainMs)
	}
	if r := s.Ramp; r != nil {
		add("capacity /s", r.CapacityRate)
	}
	return out
}

// Summarize folds runs into a Report. A scenario that was skipped or cut in a run adds its
// verdict but no figures from that run.
func Summarize(runs []summary.Run) Report {
	var rep Report
	index := map[string]int{}
	for _, run := range runs {
		rep.Runs = append(rep.Runs, run.ID)
		for _, s := range run.Scenarios {
			i, ok := index[s.Name]
			if !ok {
				i = len(rep.Scenarios)
				index[s.Name] = i
				rep.Scenarios = append(rep.Scenarios, Scenario{Name: s.Name, Verdicts: map[summary.Verdict]int{}})
			}
			sc := &rep.Scenarios[i]
			sc.Verdicts[s.Verdict]++
			if s.Verdict != summary.Pass && len(s.Reasons) > 0 {
				sc.Reasons = append(sc.Reasons, run.ID+": "+s.Reasons[0])
			}
			if s.Verdict == summary.Skipped || s.Verdict == summary.Interrupted {
				continue
			}
			for _, f := range figures(s) {
				sc.add(f.name, f.v)
			}
		}
	}
	for i := range rep.Scenarios {
		for j := range rep.Scenarios[i].Figures {
			rep.Scenarios[i].Figures[j].spread()
		}
	}
	return rep
}

func (s *Scenario) add(name string, v float64) {
	for i := range s.Figures {
		if s.Figures[i].Name == name {
			s.Figures[i].Values = append(s.Figures[i].Values, v)
			return
		}
	}
	s.Figures = append(s.Figures, Figure{Name: name, Values: []float64{v}})
}

func (f *Figure) spread() {
	v := slices.Sorted(slices.Values(f.Values))
	n := len(v)
	if n == 0 {
		return
	}
	f.Min, f.Max = v[0], v[n-1]
	f.Median = v[n/2]
	if n%2 == 0 {
		f.Median = (v[n/2-1] + v[n/2]) / 2
	}
	var sum, sq float64
	for _, x := range v {
		sum += x
	}
	mean := sum / float64(n)
	for _, x := range v {
		sq += (x - mean) * (x - mean)
	}
	if mean != 0 && n > 1 {
		f.CV = math.Sqrt(sq/float64(n-1)) / math.Abs(mean)
	}
}

// Markdown renders the report: a verdict tally per scenario, then each figure's spread.
func Markdown(w io.Writer, rep Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Stability of %d runs\n\n", len(rep.Runs))
	b.WriteString("| scenario | PASS | FAIL | INVALID | other |\n|---|--:|--:|--:|--:|\n")
	for _, s := range rep.Scenarios {
		other := 0
		for v, n := range s.Verdicts {
			if v != summary.Pass && v != summary.Fail && v != summary.Invalid {
				other += n
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d |\n", s.Name, s.Verdicts[summary.Pass], s.Verdicts[summary.Fail], s.Verdicts[summary.Invalid], other)
	}
	b.WriteString("\n| scenario | figure | median | min | max | CV |\n|---|---|--:|--:|--:|--:|\n")
	for _, s := range rep.Scenarios {
		for _, f := range s.Figures {
			fmt.Fprintf(&b, "| %s | %s | %.4g | %.4g | %.4g | %.1f%% |\n", s.Name, f.Name, f.Median, f.Min, f.Max, 100*f.CV)
		}
	}
	for _, s := range rep.Scenarios {
		for _, r := range s.Reasons {
			fmt.Fprintf(&b, "\n- %s %s", s.Name, r)
		}
	}
	b.WriteString("\n\nRuns: " + strings.Join(rep.Runs, ", ") + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}
