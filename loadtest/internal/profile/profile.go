// Package profile captures pprof profiles from the server's admin port into the run folder and
// lists a CPU profile's top functions, reading the files with github.com/google/pprof/profile
// (the pprof tool's own parser) rather than by hand.
package profile

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/pprof/profile"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Kinds are the profiles Capture fetches, in order. cpu comes first because it spans an
// interval; the snapshots follow while the load is still running.
var Kinds = []string{"cpu", "heap", "goroutine", "mutex", "block"}

// Capture fetches every kind from adminURL's /debug/pprof/ into dir as
// <prefix>.<kind>.pprof, the CPU profile over cpu (rounded up to whole seconds, at least 1).
// It returns the files it wrote; the error joins the kinds it could not fetch, so a server that
// lacks one kind (or dies during capture) still leaves the others.
func Capture(ctx context.Context, adminURL, dir, prefix string, cpu time.Duration) ([]summary.Profile, error) {
	secs := CPUSeconds(cpu)
	// The CPU request blocks for secs; leave room for a loaded machine to answer.
	client := &http.Client{Timeout: time.Duration(secs)*time.Second + 10*time.Second}
	var out []summary.Profile
	var errs []error
	for _, kind := range Kinds {
		path := "/debug/pprof/" + kind
		if kind == "cpu" {
			path = fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs)
		}
		file := fmt.Sprintf("%s.%s.pprof", prefix, kind)
		if err := fetch(ctx, client, adminURL+path, filepath.Join(dir, file)); err != nil {
			errs = append(errs, fmt.Errorf("capture %s profile: %w", kind, err))
			continue
		}
		out = append(out, summary.Profile{Kind: kind, File: file})
	}
	if len(errs) > 0 {
		return out, joinErrs(errs)
	}
	return out, nil
}

// CaptureCPU fetches one CPU profile over cpu (whole seconds, at least 1) from adminURL into
// dir/file: a profile of one stretch of load, where the snapshots Capture adds would disturb it.
func CaptureCPU(ctx context.Context, adminURL, dir, file string, cpu time.Duration) (summary.Profile, error) {
	secs := CPUSeconds(cpu)
	client := &http.Client{Timeout: time.Duration(secs)*time.Second + 10*time.Second}
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", adminURL, secs)
	if err := fetch(ctx, client, url, filepath.Join(dir, file)); err != nil {
		return summary.Profile{}, fmt.Errorf("capture cpu profile: %w", err)
	}
	return summary.Profile{Kind: "cpu", File: file}, nil
}

// CPUSeconds is how long Capture profiles the CPU for cpu: whole seconds, at least 1 (pprof's
// seconds parameter).
func CPUSeconds(cpu time.Duration) int { return max(1, int((cpu+time.Second-1)/time.Second)) }

func fetch(ctx context.Context, client *http.Client, url, dst string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, b)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	// Refuse what pprof cannot read (an HTML error page, a truncated body) before writing it:
	// a file in the run folder claims to be a profile.
	if _, err := profile.ParseData(b); err != nil {
		return fmt.Errorf("GET %s: not a profile: %w", url, err)
	}
	return os.WriteFile(dst, b, 0o644)
}

// Top reads a CPU profile and returns its n hottest functions by flat time (cumulative as
// well), like `go tool pprof -top`. Percentages are of the profile's total CPU time.
func Top(path string, n int) ([]summary.Function, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("top functions: %w", err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("top functions of %s: %w", path, err)
	}
	return top(p, n)
}

func top(p *profile.Profile, n int) ([]summary.Function, error) {
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("top functions: profile has no cpu sample type")
	}
	// Nanoseconds per unit: Go writes cpu in nanoseconds, but read the unit rather than assume.
	scale := 1.0
	switch p.SampleType[idx].Unit {
	case "microseconds":
		scale = 1e3
	case "milliseconds":
		scale = 1e6
	case "seconds":
		scale = 1e9
	}
	flat := map[string]float64{}
	cum := map[string]float64{}
	var total float64
	for _, s := range p.Sample {
		v := float64(s.Value[idx]) * scale
		total += v
		seen := map[string]bool{}
		for li, loc := range s.Location {
			// Inlined calls are listed innermost first within a location.
			for k, line := range loc.Line {
				if line.Function == nil {
					continue
				}
				name := line.Function.Name
				if li == 0 && k == 0 {
					flat[name] += v
				}
				if !seen[name] {
					cum[name] += v
					seen[name] = true
				}
			}
		}
	}
	out := make([]summary.Function, 0, len(cum))
	for name, c := range cum {
		fn := summary.Function{Name: name, FlatMs: flat[name] / 1e6, CumMs: c / 1e6}
		if total > 0 {
			fn.FlatPct = 100 * flat[name] / total
			fn.CumPct = 100 * c / total
		}
		out = append(out, fn)
	}
	slices.SortFunc(out, func(a, b summary.Function) int {
		if c := cmp.Compare(b.FlatMs, a.FlatMs); c != 0 {
			return c
		}
		if c := cmp.Compare(b.CumMs, a.CumMs); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

func joinErrs(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msg := errs[0].Error()
	for _, e := range errs[1:] {
		msg += "; " + e.Error()
	}
	return fmt.Errorf("%s", msg)
}
