package scenario

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/profile"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Steady is a constant open-model rate against the GET/POST mix, with a warm-up that is not
// counted. CPU, heap, goroutine, mutex and block profiles are captured from the admin port under
// that load, after the warm-up and before the counted requests begin (profileLead). It passes
// when the error ratio and the p99 from the intended send time stay within their settings.
func Steady() Scenario {
	return Scenario{
		Name:        "steady",
		Description: "constant open-model rate, GET/POST mix, warm-up not counted; pprof captured under load",
		Default:     true,
		ServerEnv:   func(s Settings) []string { return poolEnv(s, 0, 0) },
		Step: func(s Settings) Step {
			return Step{Rate: s.Rate, Duration: s.Duration, Warmup: s.Warmup + profileLead(s)}
		},
		Targets: mix,
		Start: func(l *Live) Hooks {
			p := &profiles{live: l}
			return Hooks{
				Disturb: p.capture,
				Check: func(_ context.Context, sc *summary.Scenario) {
					sc.Checks = append(sc.Checks, sloChecks(sc.ErrorRatio, sc.LatencyIntended.P99, l)...)
				},
				Collect: p.collect,
			}
		},
	}
}

// mix is the plain mix: no held requests.
func mix(Settings) attack.TargetOptions { return attack.TargetOptions{} }

// sloChecks are the error-ratio and p99 checks of steady (and of the requests that were not
// held in cancel and shutdown). p99 is from the intended send time: what users feel. A missed
// p99 says so when the server's pool was exhausted, the usual cause under held requests.
func sloChecks(errorRatio, p99 float64, l *Live) []summary.Check {
	s := l.Settings
	p99Check := objective("p99 latency", p99 <= summary.Ms(s.SLOP99), "≤ "+fmtMs(summary.Ms(s.SLOP99))+" from the intended send time", fmtMs(p99))
	if !p99Check.Pass {
		p99Check.Got += poolNote(l)
	}
	return []summary.Check{
		check("error ratio", errorRatio <= s.MaxErrorRate,
			fmt.Sprintf("≤ %.2f%%", 100*s.MaxErrorRate), fmt.Sprintf("%.2f%%", 100*errorRatio)),
		p99Check,
	}
}

// poolNote names an exhausted pool: "; pool exhausted: 1 of 1 connections acquired at peak".
func poolNote(l *Live) string {
	st := l.ServerStats(time.Now())
	if st.PoolMaxConns > 0 && st.PoolAcquiredPeak >= st.PoolMaxConns {
		return fmt.Sprintf("; the server's pool was exhausted: %.0f of %.0f connections acquired at peak (DB_MAX_CONNS)",
			st.PoolAcquiredPeak, st.PoolMaxConns)
	}
	return ""
}

// Server pool sizing: the default pool and the headroom for the requests that are not held.
const (
	defaultPool  = 8
	poolHeadroom = 4
)

// poolFor returns the server pool (DB_MAX_CONNS) for a scenario whose held requests arrive at
// heldRate per second and keep a connection for hold each: their number in flight is Poisson
// with mean m = heldRate × hold (Little's law), which stays under m + 4√m nearly always, plus
// headroom for the other requests. Settings.Pool, when set, wins.
func poolFor(s Settings, heldRate float64, hold time.Duration) int {
	if s.Pool > 0 {
		return s.Pool
	}
	m := heldRate * hold.Seconds()
	return max(defaultPool, int(math.Ceil(m+4*math.Sqrt(m)))+poolHeadroom)
}

// poolEnv sizes the server's pool and opens all of it at start. Opened on demand, the pool
// grew whenever the held requests in flight reached a new peak, and the request that waited
// for the new PostgreSQL backend took ~25 ms: the shutdown scenario's p99 before SIGTERM was
// 22–32 ms in the 6 of 8 recorded runs whose pool grew past 3 connections and 3–5 ms in the
// other 2, and once 109 ms (a FAIL on a healthy server). The warm-up could not settle it: the
// peak of a Poisson count keeps rising the longer it is watched.
func poolEnv(s Settings, heldRate float64, hold time.Duration) []string {
	n := strconv.Itoa(poolFor(s, heldRate, hold))
	return []string{"DB_MAX_CONNS=" + n, "DB_MIN_CONNS=" + n}
}

// Profiles are captured from profileSettle past the warm-up (the steady state, not the
// connection set-up of the first requests), and the counted requests begin profileClear after
// the CPU profile ends. Writing the profiles pauses the server: taken among the counted
// requests, 24 of the 80 slowest of 16 runs fell in the 110 ms after the CPU profile ended
// (docs/harness.md). The snapshots take well under 100 ms on a quiet machine.
const (
	profileSettle = 500 * time.Millisecond
	profileClear  = time.Second
)

// profileLead is how much longer than the warm-up steady's requests go uncounted: the profiles'
// time.
func profileLead(s Settings) time.Duration {
	return profileSettle + time.Duration(profile.CPUSeconds(s.CPUProfile))*time.Second + profileClear
}

// profiles captures every profile kind under steady load; the top CPU functions go to the
// summary.
type profiles struct {
	live  *Live
	files []summary.Profile
	span  *summary.Span
	top   []summary.Function
}

func (p *profiles) capture(ctx context.Context) error {
	l := p.live
	if l.Signals.PprofURL == "" { // a service without pprof: no profiles, nothing to judge
		return nil
	}
	if !sleep(ctx, time.Until(l.AttackStart().Add(l.Settings.Warmup+profileSettle))) {
		return nil
	}
	start := time.Now()
	profs, err := profile.Capture(ctx, strings.TrimSuffix(l.Signals.PprofURL, "/debug/pprof"), l.Dir, l.Name, l.Settings.CPUProfile)
	p.span = &summary.Span{StartMs: l.Offset(start), EndMs: l.Offset(time.Now())}
	for _, pr := range profs {
		if pr.Kind != "cpu" {
			continue
		}
		t, terr := profile.Top(filepath.Join(l.Dir, pr.File), 15)
		if terr != nil && err == nil {
			err = terr
		}
		p.top = t
	}
	p.files = profs // read by collect only after the disturbance was joined
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("profiles: %w", err)
	}
	return nil
}

func (p *profiles) collect(sc *summary.Scenario) {
	sc.Profiles, sc.Profiled, sc.TopCPU = p.files, p.span, p.top
}
