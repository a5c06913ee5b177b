package compare

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/google/pprof/profile"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// profileScenarios are the scenarios whose CPU profiles may be diffed, the first that every run
// of both sides has: the ramp's held CPU step, where the server's own work dominates the
// profile, then the steady load (older runs, or a ramp without a held step).
func profileScenarios() []string { return []string{"ramp", "steady"} }

// ProfileDiff says where the CPU time went: the functions whose CPU per request grew most from
// base to current, from each side's CPU profiles merged.
type ProfileDiff struct {
	Scenario string `json:"scenario"`
	Runs     [2]int `json:"runs"` // profiles merged: base, current
	// Samples are the CPU samples the merged profiles hold: what the per-function figures rest on.
	Samples [2]int64 `json:"samples"`
	// TotalUs is the CPU time per request, in microseconds, over the whole profile: base, current.
	TotalUs [2]float64  `json:"total_us_per_request"`
	Flat    []FuncDelta `json:"flat"` // largest growth of CPU spent in the function itself
	Cum     []FuncDelta `json:"cum"`  // largest growth of CPU spent in it and what it calls
	// BaseProfile and CurrentProfile are the merged, per-request profiles written beside
	// compare.md; Command opens the same diff interactively.
	BaseProfile    string `json:"base_profile"`
	CurrentProfile string `json:"current_profile"`
	Command        string `json:"command"`
}

// FuncDelta is one function's CPU per request on each side, in microseconds.
type FuncDelta struct {
	Name      string  `json:"name"`
	BaseUs    float64 `json:"base_us"`
	CurrentUs float64 `json:"current_us"`
	DeltaUs   float64 `json:"delta_us"`
}

// profileTop is how many functions each list shows.
const profileTop = 10

// DiffProfiles merges each side's CPU profiles of the first of profileScenarios every run has,
// each scaled to CPU per request (its samples divided by the requests sent while it was taken),
// so that sides with different run counts or rates compare. It returns nil when a side has no
// profile.
func DiffProfiles(base, current []Input) (*ProfileDiff, [2]*profile.Profile, error) {
	var merged [2]*profile.Profile
	d := &ProfileDiff{}
	for _, name := range profileScenarios() {
		if everyRunProfiled(base, name) && everyRunProfiled(current, name) {
			d.Scenario = name
			break
		}
	}
	if d.Scenario == "" {
		return nil, merged, nil
	}
	for side, in := range [][]Input{base, current} {
		p, n, samples, err := mergeSide(in, d.Scenario)
		if err != nil {
			return nil, merged, err
		}
		if p == nil {
			return nil, merged, nil
		}
		merged[side], d.Runs[side], d.Samples[side] = p, n, samples
	}
	var flat, cum [2]map[string]float64
	for side, p := range merged {
		flat[side], cum[side], d.TotalUs[side] = functionTimes(p)
	}
	d.Flat = topDeltas(flat)
	d.Cum = topDeltas(cum)
	return d, merged, nil
}

// everyRunProfiled: each run has the scenario with a CPU profile.
func everyRunProfiled(in []Input, scenario string) bool {
	for _, i := range in {
		s, ok := findScenario(i.Run, scenario)
		if !ok || !slices.ContainsFunc(s.Profiles, func(p summary.Profile) bool { return p.Kind == "cpu" }) {
			return false
		}
	}
	return len(in) > 0
}

// mergeSide merges the per-request profiles of one side's runs and averages them; samples is
// how many CPU samples they held before scaling.
func mergeSide(in []Input, scenario string) (merged *profile.Profile, runs int, samples int64, err error) {
	var ps []*profile.Profile
	for _, i := range in {
		s, ok := findScenario(i.Run, scenario)
		if !ok {
			continue
		}
		p, n, err := perRequest(i.Dir, s)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("run %s: %w", i.Run.ID, err)
		}
		if p != nil {
			ps = append(ps, p)
			samples += n
		}
	}
	if len(ps) == 0 {
		return nil, 0, 0, nil
	}
	m, err := profile.Merge(ps)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("merge CPU profiles: %w", err)
	}
	m.Scale(1 / float64(len(ps)))
	return m, len(ps), samples, nil
}

// perRequest reads a scenario's CPU profile and scales it to CPU per request sent during it;
// samples is its sample count before scaling.
func perRequest(dir string, s summary.Scenario) (p *profile.Profile, samples int64, err error) {
	for _, pf := range s.Profiles {
		if pf.Kind != "cpu" {
			continue
		}
		f, err := os.Open(filepath.Join(dir, pf.File))
		if err != nil {
			return nil, 0, fmt.Errorf("open CPU profile: %w", err)
		}
		defer f.Close()
		p, err := profile.Parse(f)
		if err != nil {
			return nil, 0, fmt.Errorf("parse CPU profile %s: %w", pf.File, err)
		}
		rate := cmp.Or(pf.Rate, s.AchievedRate)
		requests := rate * float64(p.DurationNanos) / 1e9
		if requests <= 0 {
			return nil, 0, nil // no rate or no duration: nothing to divide by
		}
		for _, sm := range p.Sample {
			samples += sm.Value[0] // CPU profiles: samples/count first
		}
		p.Scale(1 / requests)
		return p, samples, nil
	}
	return nil, 0, nil
}

// functionTimes sums a CPU profile's time per function, in microseconds: flat (the function is
// the innermost frame) and cum (it is anywhere in the stack, counted once per sample).
func functionTimes(p *profile.Profile) (flat, cum map[string]float64, totalUs float64) {
	idx := len(p.SampleType) - 1 // CPU profiles: samples/count, cpu/nanoseconds
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	flat, cum = map[string]float64{}, map[string]float64{}
	for _, s := range p.Sample {
		us := float64(s.Value[idx]) / 1e3
		totalUs += us
		seen := map[string]bool{}
		first := true
		for _, loc := range s.Location {
			for _, line := range loc.Line { // innermost (inlined) first
				if line.Function == nil {
					continue
				}
				name := line.Function.Name
				if first {
					flat[name] += us
					first = false
				}
				if !seen[name] {
					seen[name] = true
					cum[name] += us
				}
			}
		}
	}
	return flat, cum, totalUs
}

// topDeltas lists the functions whose time grew most from side 0 to side 1.
func topDeltas(t [2]map[string]float64) []FuncDelta {
	names := map[string]bool{}
	for _, m := range t {
		for n := range m {
			names[n] = true
		}
	}
	var out []FuncDelta
	for n := range names {
		d := FuncDelta{Name: n, BaseUs: t[0][n], CurrentUs: t[1][n]}
		d.DeltaUs = d.CurrentUs - d.BaseUs
		if d.DeltaUs > 0 {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].DeltaUs != out[j].DeltaUs {
			return out[i].DeltaUs > out[j].DeltaUs
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > profileTop {
		out = out[:profileTop]
	}
	return out
}

// WriteProfiles writes the merged per-request profiles into dir and sets the paths and the
// `go tool pprof -diff_base` command that opens the same diff.
func (d *ProfileDiff) WriteProfiles(dir string, merged [2]*profile.Profile) error {
	names := [2]string{"base." + d.Scenario + ".cpu.pprof", "current." + d.Scenario + ".cpu.pprof"}
	for side, p := range merged {
		path := filepath.Join(dir, names[side])
		tmp := path + ".tmp"
		f, err := os.Create(tmp)
		if err != nil {
			return fmt.Errorf("write merged CPU profile: %w", err)
		}
		if err := p.Write(f); err != nil {
			f.Close()
			return fmt.Errorf("write merged CPU profile: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write merged CPU profile: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write merged CPU profile: %w", err)
		}
	}
	d.BaseProfile, d.CurrentProfile = filepath.Join(dir, names[0]), filepath.Join(dir, names[1])
	d.Command = fmt.Sprintf("go tool pprof -top -diff_base=%s %s", d.BaseProfile, d.CurrentProfile)
	return nil
}
