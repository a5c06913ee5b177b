package contention

import (
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// windowMs is the length of the attack's windows (attack's one-second windows).
const windowMs = 1000.0

// Summarise lays points over the scenario's windows: a point's span is split between the
// windows it overlaps in proportion, its scheduling histogram goes whole to the window that
// holds the middle of the histogram's span. The totals are over the windows.
func Summarise(points []Point, windows []summary.Window) summary.Contention {
	c := summary.Contention{Windows: make([]summary.ContentionWindow, len(windows))}
	hists := make([]*Histogram, len(windows))
	slices := make([][roles]float64, len(windows))
	var total *Histogram
	var busy, run time.Duration
	var spanMs float64
	cpus := 0
	for i, w := range windows {
		c.Windows[i] = summary.ContentionWindow{StartMs: w.StartMs, Requests: w.Requests, P99Ms: w.P99}
	}
	for _, p := range points {
		from := p.OffsetMs - p.SpanMs
		for i, w := range windows {
			overlap := min(p.OffsetMs, w.StartMs+windowMs) - max(from, w.StartMs)
			if overlap <= 0 || p.SpanMs <= 0 {
				continue
			}
			k := overlap / p.SpanMs
			cw := &c.Windows[i]
			for r := range roles {
				cw.PeakDelayPerRunMs[r] = max(cw.PeakDelayPerRunMs[r], onPath(p, Role(r)))
			}
			cw.ServerWaitMs += k * ms(p.Wait[Server])
			cw.DatabaseWaitMs += k * ms(p.Wait[Database])
			cw.HarnessWaitMs += k * ms(p.Wait[Harness])
			ours := p.Run[Server] + p.Run[Database] + p.Run[Harness] + p.OffPathRun
			cw.RunMs += k * ms(ours)
			for r := range roles {
				slices[i][r] += k * float64(p.Slices[r])
			}
			if p.Busy > 0 {
				cw.ForeignCPUs += k * ms(max(p.Busy-ours, 0)) / windowMs
				cw.NicedCPUs += k * ms(min(p.Niced, max(p.Busy-ours, 0))) / windowMs
				busy += time.Duration(k * float64(p.Busy))
				run += time.Duration(k * float64(ours))
				spanMs += overlap
				cpus = p.CPUs
			}
		}
		mid := (p.SchedFromMs + p.OffsetMs) / 2
		for i, w := range windows {
			if p.Sched != nil && mid >= w.StartMs && mid < w.StartMs+windowMs {
				hists[i] = hists[i].add(p.Sched)
				total = total.add(p.Sched)
			}
		}
	}
	var requests int64
	for i := range c.Windows {
		cw := &c.Windows[i]
		wait := cw.ServerWaitMs + cw.DatabaseWaitMs + cw.HarnessWaitMs
		if cw.Requests > 0 {
			cw.PerRequestWaitMs = wait / float64(cw.Requests)
		}
		cw.SchedP99Ms = hists[i].Quantile(0.99)
		cw.Sched = hists[i].summary()
		for r, wait := range [roles]float64{cw.ServerWaitMs, cw.DatabaseWaitMs, cw.HarnessWaitMs} {
			if slices[i][r] > 0 {
				cw.DelayPerRunMs[r] = wait / slices[i][r]
			}
		}
		cw.PathDelayMs = PathDelay(*cw)
		c.ServerWaitMs += cw.ServerWaitMs
		c.DatabaseWaitMs += cw.DatabaseWaitMs
		c.HarnessWaitMs += cw.HarnessWaitMs
		c.RunMs += cw.RunMs
		requests += cw.Requests
	}
	wait := c.ServerWaitMs + c.DatabaseWaitMs + c.HarnessWaitMs
	if requests > 0 {
		c.PerRequestWaitMs = wait / float64(requests)
	}
	if wait+c.RunMs > 0 {
		c.Share = wait / (wait + c.RunMs)
	}
	c.CPUs = cpus
	if spanMs > 0 && cpus > 0 {
		c.ForeignCPUs = ms(max(busy-run, 0)) / spanMs
	}
	if total != nil {
		c.SchedLatency = &summary.SchedLatency{P50Ms: total.Quantile(0.5), P99Ms: total.Quantile(0.99)}
	}
	return c
}
