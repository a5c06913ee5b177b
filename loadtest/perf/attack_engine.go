package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/fleet"
)

// harnessAttack runs one attack through the harness's engine exactly as a scenario does
// (results streamed to a .bin file, bounded aggregation, lateness against the pacer's
// schedule), with no warm-up, and summarises it. Rate 0 is vegeta's "as fast as the workers
// allow", which needs MaxWorkers.
func harnessAttack(ctx context.Context, c attackConfig) (attackReport, error) {
	pacer := vegeta.ConstantPacer{Freq: int(c.Rate), Per: time.Second}
	if c.Rate == 0 {
		pacer = vegeta.ConstantPacer{}
	}
	bin := c.Results
	if bin == "" {
		f, err := os.CreateTemp("", "perf-attack-*.bin")
		if err != nil {
			return attackReport{}, fmt.Errorf("create results file: %w", err)
		}
		f.Close()
		bin = f.Name()
		defer os.Remove(bin)
	}
	cfg := attack.Config{
		Scenario:    "perf",
		Pacer:       pacer,
		Duration:    c.Duration,
		Targeter:    vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: c.URL}),
		Timeout:     c.Timeout,
		Workers:     uint64(c.Workers),
		MaxWorkers:  uint64(c.Workers),
		KeepAlive:   true,
		ResultsPath: bin,
		SlowestN:    -1,
	}
	if c.Mix {
		// The items list's first page, what the harness's mix sent before it came from targets
		// files: GETs only, so the figures stay comparable with earlier perf runs.
		base := strings.TrimRight(c.URL, "/")
		cfg.Targeter, cfg.Targets = nil, attack.TargetOptions{BaseURL: base, Seed: 1,
			Requests: []vegeta.Target{{Method: http.MethodGet, URL: base + "/api/v1/items?per_page=20&page=1"}}}
	}
	send := attack.Attack
	if c.Fleet != "" {
		co, err := fleet.Dial(ctx, c.Fleet, fleet.Options{Wait: 10 * time.Second, Key: c.FleetKey})
		if err != nil {
			return attackReport{}, err
		}
		send = co.Attack
	}
	out, err := send(ctx, cfg)
	if err != nil {
		return attackReport{}, err
	}
	rep := attackReport{
		Requests:      int(out.Requests),
		OK:            int(out.Successes),
		DurationS:     out.Duration.Seconds(),
		Rate:          out.AchievedRate,
		Throughput:    out.Throughput,
		TargetRate:    finite(out.TargetRate), // +Inf at rate 0
		LatenessP99Ms: -1,
		LatenessMaxMs: -1,
	}
	if !out.ScheduleUnknown && c.Rate > 0 {
		rep.LatenessP99Ms = out.SendLateness.P99
		rep.LatenessMaxMs = out.SendLateness.Max
	}
	return rep, nil
}

// checkLoopbackURL refuses any target that is not on 127.0.0.1 or ::1: perf drives load, and
// load on this machine's neighbours is not what it measures.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "::1" {
		return fmt.Errorf("%q is not a loopback address (127.0.0.1 or ::1)", raw)
	}
	return nil
}

// checkFleet: workers on loopback only, and the targeter they can rebuild (-mix).
func checkFleet(c attackConfig) error {
	if c.Fleet == "" {
		return nil
	}
	if !c.Mix {
		return fmt.Errorf("needs -mix: workers rebuild the items targeter, not a static one")
	}
	items, err := fleet.ParseList(c.Fleet)
	if err != nil {
		return err
	}
	for _, it := range items {
		if host, _, err := net.SplitHostPort(it); err != nil || (host != "127.0.0.1" && host != "::1") {
			return fmt.Errorf("%q is not a loopback address (127.0.0.1 or ::1)", it)
		}
	}
	return nil
}

// finite maps NaN and ±Inf (which JSON cannot carry) to -1.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return -1
	}
	return v
}
