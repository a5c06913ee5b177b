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
	c, err := ReadCPU(path)
	if err != nil {
		return nil, fmt.Errorf("top functions: %w", err)
	}
	return c.Top(n), nil
}

// CPU is a CPU profile read from a file.
type CPU struct {
	p       *profile.Profile
	samples int     // index of the sample count in a sample's values (-1: none)
	cpu     int     // index of the CPU time
	scale   float64 // nanoseconds per unit of the CPU time
}

// ReadCPU parses the CPU profile at path; a profile of another kind is an error.
func ReadCPU(path string) (*CPU, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	c := &CPU{p: p, samples: -1, cpu: -1, scale: 1}
	for i, st := range p.SampleType {
		switch st.Type {
		case "cpu":
			c.cpu = i
		case "samples":
			c.samples = i
		}
	}
	if c.cpu < 0 {
		return nil, fmt.Errorf("%s has no cpu sample type", path)
	}
	// Go writes cpu in nanoseconds, but read the unit rather than assume.
	switch p.SampleType[c.cpu].Unit {
	case "microseconds":
		c.scale = 1e3
	case "milliseconds":
		c.scale = 1e6
	case "seconds":
		c.scale = 1e9
	}
	return c, nil
}

// Top returns the profile's n hottest functions by flat time (cumulative as well).
func (c *CPU) Top(n int) []summary.Function {
	flat := map[string]float64{}
	cum := map[string]float64{}
	var total float64
	for _, s := range c.p.Sample {
		v := float64(s.Value[c.cpu]) * c.scale
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
	return out
}

// GCTime is the Go collector's part of a CPU profile, counted as the runtime's CPU classes
// count it: the work of idle-time mark workers ran on CPUs nothing else wanted, so it is
// neither the GC's cost nor part of the busy time the shares are of.
type GCTime struct {
	// Share is the GC's mark workers, assists and stop-the-world phases as a share of the
	// profile's CPU time outside idle-time marking; AssistShare the assists' part.
	Share, AssistShare float64
	// Samples is how many samples the shares rest on (those outside idle-time marking).
	Samples int64
}

// The runtime's functions that tell a sample's GC work apart (runtime/mgc.go, mgcmark.go):
// the idle worker's drain is its own function, inlined but kept in the profile's lines.
const (
	idleMark   = "runtime.gcDrainMarkWorkerIdle"
	markWorker = "runtime.gcBgMarkWorker"
	assist     = "runtime.gcAssistAlloc"
)

// gcPhases are the collector's stop-the-world and phase-change work, counted as GC time.
var gcPhases = []string{"runtime.gcStart", "runtime.gcMarkDone", "runtime.gcMarkTermination"}

// GC returns the collector's share of the profile's busy CPU time.
func (c *CPU) GC() GCTime {
	var busy, gc, assisted float64
	var g GCTime
	for _, s := range c.p.Sample {
		in := stackFuncs(s)
		if in[idleMark] {
			continue
		}
		v := float64(s.Value[c.cpu])
		busy += v
		if c.samples >= 0 {
			g.Samples += s.Value[c.samples]
		} else {
			g.Samples++
		}
		switch {
		case in[assist]:
			gc += v
			assisted += v
		case in[markWorker] || slices.ContainsFunc(gcPhases, func(f string) bool { return in[f] }):
			gc += v
		}
	}
	if busy > 0 {
		g.Share, g.AssistShare = gc/busy, assisted/busy
	}
	return g
}

// stackFuncs is the set of functions on a sample's stack, inlined ones included.
func stackFuncs(s *profile.Sample) map[string]bool {
	in := map[string]bool{}
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			if line.Function != nil {
				in[line.Function.Name] = true
			}
		}
	}
	return in
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
