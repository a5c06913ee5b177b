package compare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
)

// Limit is how much one metric may move before compare calls it a change.
//
// A change is a verdict (better or worse) only when all three hold: the Mann-Whitney U test
// rejects "same distribution" at Alpha, the relative change of the medians is beyond
// MaxChangePct, and the absolute change is beyond MinAbsChange. The last one keeps a metric
// whose baseline is near zero (0.3 ms → 0.4 ms is +33 %) from being called a regression.
type Limit struct {
	MaxChangePct float64 `json:"max_change_pct"` // allowed relative change of the median, in percent
	MinAbsChange float64 `json:"min_abs_change"` // allowed absolute change, in the metric's unit
	Alpha        float64 `json:"alpha"`          // significance level of the U test, in (0, 1)
	// RequirePower makes the comparison INCONCLUSIVE (exit 2) rather than a pass when the runs
	// could not have detected a change of the limit's size in this metric. Default false: the
	// metric is marked "cannot judge" and named in the headline (docs/design/compare.md says why).
	RequirePower bool `json:"require_power"`
}

// Thresholds are the limits of every metric and the confidence level of the reported intervals.
type Thresholds struct {
	Confidence float64          `json:"confidence"` // of the median confidence intervals, in (0, 1)
	Metrics    map[string]Limit `json:"metrics"`    // metric name (see Metrics) → limit
}

// DefaultThresholds returns the built-in limits. They are loose enough that run-to-run noise on
// a shared 2-core machine stays "same" and tight enough that 5 ms added to every request is
// "worse" on p50 and p99.
func DefaultThresholds() Thresholds {
	return Thresholds{
		Confidence: 0.95,
		Metrics: map[string]Limit{
			"p50_ms":          {MaxChangePct: 10, MinAbsChange: 0.5, Alpha: 0.05},
			"p99_ms":          {MaxChangePct: 20, MinAbsChange: 1, Alpha: 0.05},
			"throughput":      {MaxChangePct: 5, MinAbsChange: 1, Alpha: 0.05},
			"error_ratio":     {MaxChangePct: 50, MinAbsChange: 0.005, Alpha: 0.05},
			"goroutines_peak": {MaxChangePct: 20, MinAbsChange: 10, Alpha: 0.05},
			// A CPU regression shows here before latency moves: at a low rate a request's CPU
			// is a fraction of its latency.
			"server_cpu_ratio": {MaxChangePct: 10, MinAbsChange: 0.02, Alpha: 0.05},
			"settle_ms":        {MaxChangePct: 50, MinAbsChange: 250, Alpha: 0.05},
			"drain_ms":         {MaxChangePct: 25, MinAbsChange: 100, Alpha: 0.05},
			"cleanup_ms":       {MaxChangePct: 50, MinAbsChange: 100, Alpha: 0.05},
			// The ramp refines its knee to ~4 % (quick profile): a 10 % drop is worth a build.
			"capacity_rps": {MaxChangePct: 10, MinAbsChange: 1, Alpha: 0.05},
			"ramp_p99_ms":  {MaxChangePct: 20, MinAbsChange: 1, Alpha: 0.05},
		},
	}
}

// fileLimit is a Limit as written in a thresholds file: every field optional, so that a file
// can override one number and keep the built-in defaults for the rest.
type fileLimit struct {
	MaxChangePct *float64 `json:"max_change_pct"`
	MinAbsChange *float64 `json:"min_abs_change"`
	Alpha        *float64 `json:"alpha"`
	RequirePower *bool    `json:"require_power"`
}

type fileThresholds struct {
	Comment    string               `json:"comment"`
	Confidence *float64             `json:"confidence"`
	Alpha      *float64             `json:"alpha"` // default alpha for metrics that do not set one
	Metrics    map[string]fileLimit `json:"metrics"`
}

// LoadThresholds reads a thresholds file over the defaults. Unknown metrics or fields and
// out-of-range values are errors: a typo must not silently fall back to a default.
func LoadThresholds(path string) (Thresholds, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Thresholds{}, fmt.Errorf("read thresholds: %w", err)
	}
	return ParseThresholds(b, path)
}

// ParseThresholds is LoadThresholds on bytes; name is used in error messages.
func ParseThresholds(b []byte, name string) (Thresholds, error) {
	var f fileThresholds
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Thresholds{}, fmt.Errorf("parse thresholds %s: %w", name, err)
	}
	t := DefaultThresholds()
	if f.Confidence != nil {
		t.Confidence = *f.Confidence
	}
	if f.Alpha != nil {
		for k, l := range t.Metrics {
			l.Alpha = *f.Alpha
			t.Metrics[k] = l
		}
	}
	names := make([]string, 0, len(f.Metrics))
	for k := range f.Metrics {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fl := f.Metrics[k]
		l, ok := t.Metrics[k]
		if !ok {
			return Thresholds{}, fmt.Errorf("thresholds %s: unknown metric %q (known: %s)", name, k, knownMetrics())
		}
		if fl.MaxChangePct != nil {
			l.MaxChangePct = *fl.MaxChangePct
		}
		if fl.MinAbsChange != nil {
			l.MinAbsChange = *fl.MinAbsChange
		}
		if fl.Alpha != nil {
			l.Alpha = *fl.Alpha
		}
		if fl.RequirePower != nil {
			l.RequirePower = *fl.RequirePower
		}
		t.Metrics[k] = l
	}
	if err := t.Validate(); err != nil {
		return Thresholds{}, fmt.Errorf("thresholds %s: %w", name, err)
	}
	return t, nil
}

// Validate reports the first out-of-range value.
func (t Thresholds) Validate() error {
	if !(t.Confidence > 0 && t.Confidence < 1) {
		return fmt.Errorf("confidence %v is not in (0, 1)", t.Confidence)
	}
	for _, m := range Metrics() {
		l, ok := t.Metrics[m.Name]
		if !ok {
			return fmt.Errorf("metric %s has no limit", m.Name)
		}
		if !(l.Alpha > 0 && l.Alpha < 1) {
			return fmt.Errorf("metric %s: alpha %v is not in (0, 1)", m.Name, l.Alpha)
		}
		if l.MaxChangePct < 0 || l.MinAbsChange < 0 {
			return fmt.Errorf("metric %s: max_change_pct and min_abs_change must be ≥ 0", m.Name)
		}
	}
	return nil
}

func knownMetrics() string {
	var s string
	for i, m := range Metrics() {
		if i > 0 {
			s += ", "
		}
		s += m.Name
	}
	return s
}
