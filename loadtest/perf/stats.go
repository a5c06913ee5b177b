package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Target is the bound a figure is judged against. Op is ">=" or "<=" (the median must be at
// or above / at or below Value), "within" (the median must be within Value of 1, for a ratio
// that should be 1), or "" for a calibration row that is reported, not judged.
type Target struct {
	Op    string  `json:"op"`
	Value float64 `json:"value"`
}

// String renders the target the way the table shows it.
func (t Target) String() string {
	if t.Op == "" {
		return "–"
	}
	if t.Op == "within" {
		return fmt.Sprintf("1 ± %s", trim(t.Value))
	}
	return fmt.Sprintf("%s %s", map[string]string{">=": "≥", "<=": "≤"}[t.Op], trim(t.Value))
}

// Met reports whether v satisfies the target.
func (t Target) Met(v float64) bool {
	switch t.Op {
	case ">=":
		return v >= t.Value
	case "<=":
		return v <= t.Value
	case "within":
		return math.Abs(v-1) <= t.Value
	}
	return false
}

// Sample is one round of a figure: the two measurements and the figure computed from them
// (A/B for a ratio, A-B for a difference, or A alone when B is zero and unused).
type Sample struct {
	A     float64 `json:"a"`
	B     float64 `json:"b"`
	Value float64 `json:"value"`
}

// Figure is one row of the P1–P5 table.
type Figure struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	A      string `json:"a"`    // what the first measurement of each round is
	B      string `json:"b"`    // what it is compared with ("" when the figure is A alone)
	Unit   string `json:"unit"` // "×" for a ratio, or ms, MB
	Target Target `json:"target"`

	Samples  []Sample `json:"samples"`
	Median   float64  `json:"median"`
	Min      float64  `json:"min"`
	Max      float64  `json:"max"`
	Rounds   int      `json:"rounds"`        // rounds that gave a finite value
	Failed   int      `json:"failed_rounds"` // rounds that did not (an error, a missing measurement)
	Produced bool     `json:"produced"`      // false when no round gave a finite value
	Pass     bool     `json:"pass"`          // the median meets the target and at most 1 round in 5 failed
	Notes    string   `json:"notes,omitempty"`
}

// Add records one round.
func (f *Figure) Add(s Sample) { f.Samples = append(f.Samples, s) }

// Summarize computes median, min and max of the finite samples and judges the median. A
// figure fails whatever its median when more than one round in five failed: the rounds that
// survive may be the lucky ones.
func (f *Figure) Summarize() {
	var vs []float64
	for _, s := range f.Samples {
		if !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) {
			vs = append(vs, s.Value)
		}
	}
	f.Rounds = len(vs)
	f.Failed = len(f.Samples) - len(vs)
	f.Produced = len(vs) > 0
	if !f.Produced {
		f.Median, f.Min, f.Max, f.Pass = 0, 0, 0, false
		return
	}
	f.Median, f.Min, f.Max = median(vs), slices.Min(vs), slices.Max(vs)
	f.Pass = f.Target.Met(f.Median) && !f.TooManyFailed()
}

// TooManyFailed reports whether more than one round in five failed.
func (f *Figure) TooManyFailed() bool { return f.Failed*5 > len(f.Samples) }

// median of vs (not modified); the mean of the two middle values for an even count.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratio is a/b, NaN when either is missing (zero or negative: a failed measurement).
func ratio(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return math.NaN()
	}
	return a / b
}

// trim formats v with up to three significant decimals and no trailing zeros.
func trim(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		s := fmt.Sprintf("%.3f", v)
		for len(s) > 1 && s[len(s)-1] == '0' {
			s = s[:len(s)-1]
		}
		if s[len(s)-1] == '.' {
			s = s[:len(s)-1]
		}
		return s
	}
}

// sampleJSON is Sample on the wire: JSON has no NaN, so a missing measurement is null.
type sampleJSON struct {
	A     *float64 `json:"a"`
	B     *float64 `json:"b"`
	Value *float64 `json:"value"`
}

// MarshalJSON writes NaN and ±Inf as null.
func (s Sample) MarshalJSON() ([]byte, error) {
	p := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(sampleJSON{A: p(s.A), B: p(s.B), Value: p(s.Value)})
}

// UnmarshalJSON reads null as NaN.
func (s *Sample) UnmarshalJSON(b []byte) error {
	var j sampleJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	v := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	s.A, s.B, s.Value = v(j.A), v(j.B), v(j.Value)
	return nil
}
