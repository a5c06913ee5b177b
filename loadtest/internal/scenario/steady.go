package scenario

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/profile"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Steady is a constant open-model rate against the GET/POST mix, with a warm-up that is not
// counted. CPU, heap, goroutine, mutex and block profiles are captured from the admin port while
// it runs. It passes when the error ratio and the p99 stay within their settings.
func Steady() Scenario {
	return Scenario{
		Name:        "steady",
		Description: "constant open-model rate, GET/POST mix, warm-up not counted; pprof captured under load",
		Default:     true,
		Steps: func(s Settings) []Step {
			return []Step{{Rate: s.Rate, Duration: s.Duration, Warmup: s.Warmup}}
		},
		Targets: mix,
		Disturb: captureProfiles,
		Check: func(_ context.Context, r *Run, sc *summary.Scenario) {
			sc.Checks = append(sc.Checks, sloChecks(sc.ErrorRatio, sc.Latency.P99, r.Settings)...)
		},
	}
}

// mix is the default request mix: GET pages and POST items, PostShare of them POSTs.
func mix(s Settings) attack.TargetOptions {
	// Five pages of 20: the first 100 items, what the default -seed-items creates, so GETs
	// read full pages of different rows rather than one cached page.
	return attack.TargetOptions{PostShare: s.PostShare, Pages: 5}
}

// sloChecks are the error-ratio and p99 checks of steady (and of cancel's non-cancelled share).
func sloChecks(errorRatio, p99 float64, s Settings) []summary.Check {
	return []summary.Check{
		check("error ratio", errorRatio <= s.MaxErrorRate,
			fmt.Sprintf("≤ %.2f%%", 100*s.MaxErrorRate), fmt.Sprintf("%.2f%%", 100*errorRatio)),
		objective("p99 latency", p99 <= ms(s.SLOP99), "≤ "+fmtMs(ms(s.SLOP99)), fmtMs(p99)),
	}
}

// captureProfiles waits for the warm-up to end and the load to be steady, then captures every
// profile kind; the top CPU functions go to the summary.
func captureProfiles(ctx context.Context, r *Run) error {
	// Half a second past the warm-up: the profile should show the steady state, not the
	// connection set-up of the first requests.
	if !sleep(ctx, time.Until(r.AttackStart().Add(r.Settings.Warmup+500*time.Millisecond))) {
		return nil
	}
	profs, err := profile.Capture(ctx, r.Server.Admin(), r.Dir, r.Name, r.Settings.CPUProfile)
	var top []summary.Function
	for _, p := range profs {
		if p.Kind != "cpu" {
			continue
		}
		t, terr := profile.Top(filepath.Join(r.Dir, p.File), 15)
		if terr != nil && err == nil {
			err = terr
		}
		top = t
	}
	r.mu.Lock()
	r.profiles, r.topCPU = profs, top
	r.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("profiles: %w", err)
	}
	return nil
}
