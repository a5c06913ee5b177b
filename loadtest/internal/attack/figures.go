package attack

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Figures is what an attack measured: the client-side fields of summary.Scenario (see Fill),
// the validity checks, and the bookkeeping a scenario may want.
type Figures struct {
	Scenario    string
	StartedAt   time.Time     // start of the counted window (attack start + Warmup)
	Duration    time.Duration // counted span: Duration, or less when interrupted
	Warmup      time.Duration
	Interrupted bool // ctx was cancelled before the attack ended

	TargetRate   float64 // requests/s scheduled in the counted window
	AchievedRate float64 // requests/s counted
	Throughput   float64 // successes/s
	Scheduled    int64   // hits the pacer scheduled in the counted window (−1: pacer unknown)
	Requests     int64
	Successes    int64
	Warmups      int64 // warm-up results (sent, not counted)
	StatusCodes  map[string]int64
	ErrorClasses map[string]int64

	Latency         summary.Latencies
	LatencyIntended summary.Latencies
	SendLateness    summary.Latencies

	Windows []summary.Window
	Slowest []summary.Request

	PeakInFlight    int64 // most requests in flight at once (the generator's workers are unbounded)
	ScheduleUnknown bool  // the pacer's schedule cannot be inverted: lateness not measured

	// Workers are the per-worker figures when several processes sent the attack (Config.Shards);
	// the Source adds what it knows of each (clock offset, peak in flight, a loss).
	Workers []summary.Worker
	// Cut says why the source cut the attack short when nobody interrupted it (a worker lost
	// mid-attack, named); Interrupted is then set too.
	Cut string

	Checks      []summary.Check // validity checks
	ResultsPath string
}

// Valid reports whether every validity check passed.
func (f Figures) Valid() bool {
	for _, c := range f.Checks {
		if !c.Pass {
			return false
		}
	}
	return true
}

// Fill copies the client-side figures into s. It leaves the verdict, reasons and checks to the
// scenario (append f.Checks to s.Checks), keeps a StartedAt the scenario already set, and sets
// s.Files["results"] when results were written.
func (f Figures) Fill(s *summary.Scenario) {
	if s.StartedAt.IsZero() {
		s.StartedAt = f.StartedAt
	}
	s.DurationMs = summary.Ms(f.Duration)
	s.WarmupMs = summary.Ms(f.Warmup)
	s.TargetRate = f.TargetRate
	s.AchievedRate = f.AchievedRate
	s.Throughput = f.Throughput
	s.Requests = f.Requests
	s.Successes = f.Successes
	s.SuccessRatio, s.ErrorRatio = 0, 0
	if f.Requests > 0 {
		s.SuccessRatio = float64(f.Successes) / float64(f.Requests)
		s.ErrorRatio = 1 - s.SuccessRatio
	}
	s.StatusCodes = f.StatusCodes
	s.ErrorClasses = f.ErrorClasses
	s.Latency = f.Latency
	s.LatencyIntended = f.LatencyIntended
	s.SendLateness = f.SendLateness
	s.Windows = f.Windows
	s.Slowest = f.Slowest
	s.Workers = f.Workers
	if f.ResultsPath != "" {
		if s.Files == nil {
			s.Files = map[string]string{}
		}
		s.Files["results"] = filepath.Base(f.ResultsPath)
	}
}

// RateCheck names the validity check that failed when the generator sent fewer requests than
// its pacer scheduled.
const RateCheck = "generator rate"

// validity judges whether the generator kept up. A failure makes a scenario INVALID, not FAIL:
// when the client fell behind, the figures describe the client, not the server. (Workers are
// unbounded, as in vegeta's open model, so no send ever waits for one: there is no worker check
// to make, and PeakInFlight says how many were needed.)
func (f Figures) validity(maxLateness time.Duration) []summary.Check {
	const rateName, rateWant = RateCheck, "≥ 99% of the scheduled requests sent"
	var rate summary.Check
	switch {
	case f.Scheduled < 0:
		rate = summary.NewCheck(summary.Validity, rateName, true, rateWant,
			fmt.Sprintf("%d sent at %.1f/s (pacer schedule unknown: not judged)", f.Requests, f.AchievedRate))
	default:
		missed := f.Scheduled - f.Requests
		share := 1.0
		if f.Scheduled > 0 {
			share = float64(f.Requests) / float64(f.Scheduled)
		}
		// One hit of slack: the window's edge can hold or lose one hit by timer rounding,
		// which at a low rate is more than 1 %.
		rate = summary.NewCheck(summary.Validity, rateName, missed <= 1 || share >= 0.99, rateWant,
			fmt.Sprintf("%d of %d (%.1f%%), %.1f/s of %.1f/s", f.Requests, f.Scheduled, 100*share, f.AchievedRate, f.TargetRate))
	}
	const lateName = "send lateness p99"
	lateWant := fmt.Sprintf("≤ %s", maxLateness)
	late := summary.NewCheck(summary.Validity, lateName, true, lateWant, "not measured (pacer schedule unknown)")
	if !f.ScheduleUnknown {
		late = summary.NewCheck(summary.Validity, lateName, f.SendLateness.P99 <= summary.Ms(maxLateness), lateWant,
			fmt.Sprintf("%.2f ms", f.SendLateness.P99))
	}
	return []summary.Check{rate, late}
}
