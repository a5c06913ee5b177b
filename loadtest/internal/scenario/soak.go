package scenario

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
	"github.com/benchharness/benchharness/loadtest/internal/trend"
)

// Soak is steady open-model load for -soak-duration, judged on trends rather than levels: per
// resource (live heap after GC, RSS, goroutines, open connections and fds, pool connections,
// PostgreSQL sessions) and for the p99 from the intended send time, the Theil–Sen slope per
// hour after the warm-up with its 95 % interval (package trend). PASS when every interval lies
// under its limit, FAIL when one lies over it (naming the resource), INVALID when an interval
// holds its limit: too short to tell, with the length that would tell. By name only: it is long.
func Soak() Scenario {
	return Scenario{
		Name:        "soak",
		Description: "steady open-model load for -soak-duration; verdict on each resource's trend per hour after the warm-up (Theil–Sen slope, 95% interval)",
		SampleEvery: soakSampleEvery,
		ServerEnv:   func(s Settings) []string { return poolEnv(s, 0, 0) },
		Step: func(s Settings) Step {
			return Step{Rate: s.Rate, Duration: s.Soak.Duration - s.Soak.Warmup, Warmup: s.Soak.Warmup}
		},
		Targets: mix,
		Start: func(l *Live) Hooks {
			n := soakWindows(l.Settings.Soak)
			k := &soak{live: l, n: n, p99: make([][]float64, n)}
			return Hooks{Observe: k.observe, Check: k.check, Collect: k.collect}
		},
	}
}

// The judged span is cut into windows of at least minSoakWindow, at most maxSoakWindows of
// them: enough points for Sen's interval to be narrow (with 6 windows a healthy server's live
// heap, which steps between two levels, gave intervals of ±240 MiB/h; docs/design/harness-evidence.md), each
// long enough to span a few GC cycles and a sawtooth's period (the sawtooth fault's is 2.6 s at
// 100 requests/s), so that its floor is the resource's floor and not a point on the way up.
const (
	maxSoakWindows = 30
	minSoakWindow  = 5 * time.Second
)

// soakWindows is how many windows s's judged span is cut into: never fewer than a fit needs
// (trend.MinPoints), even when that makes them shorter than minSoakWindow.
func soakWindows(s SoakSettings) int {
	return min(maxSoakWindows, max(trend.MinPoints, int((s.Duration-s.Warmup)/minSoakWindow)))
}

// soakSampleEvery gives each window about 20 readings, never more often than
// Settings.SampleEvery nor less often than every 5 s.
func soakSampleEvery(s Settings) time.Duration {
	every := (s.Soak.Duration - s.Soak.Warmup) / time.Duration(soakWindows(s.Soak)*20)
	return min(max(every, s.SampleEvery), 5*time.Second)
}

// soakResource is one thing a soak trends: how a sample gives it, in which unit, under which
// limit.
type soakResource struct {
	name, unit string
	value      func(summary.Sample) float64
	limit      func(SoakSettings) float64
	// readable: the sample's reading of it succeeded (a failed scrape is a gap, not a 0).
	readable func(summary.Sample) bool
	// exposed: the server gives it at all (else the check says what to expose).
	exposed func(summary.Signals) bool
	expose  string
}

const mib = 1 << 20

func soakResources() []soakResource {
	scraped := func(s summary.Sample) bool { return !s.ScrapeFailed }
	queried := func(s summary.Sample) bool { return !s.DBQueryFailed }
	always := func(summary.Signals) bool { return true }
	memory := func(s SoakSettings) float64 { return s.MemoryLimit }
	count := func(s SoakSettings) float64 { return s.CountLimit }
	return []soakResource{
		{"heap_live", "MiB", func(s summary.Sample) float64 { return s.HeapLiveBytes / mib }, memory, scraped, always,
			"expose go_gc_heap_live_bytes (the Go collector's /gc/heap/live:bytes rule)"},
		{"rss", "MiB", func(s summary.Sample) float64 { return s.RSSBytes / mib }, memory,
			func(s summary.Sample) bool { return s.RSSBytes > 0 }, always, "start the server here, or expose process_resident_memory_bytes"},
		{"goroutines", "count", func(s summary.Sample) float64 { return s.Goroutines }, count, scraped,
			func(sig summary.Signals) bool { return sig.Goroutines != "" }, exposeGoroutines},
		{"open_conns", "count", func(s summary.Sample) float64 { return s.OpenConns }, count, scraped, always,
			"expose http_server_open_connections"},
		{"open_fds", "count", func(s summary.Sample) float64 { return s.OpenFDs }, count,
			func(s summary.Sample) bool { return s.OpenFDs > 0 }, always, "start the server here, or expose process_open_fds"},
		{"pool_total", "count", func(s summary.Sample) float64 { return s.PoolTotal }, count, scraped,
			func(sig summary.Signals) bool { return sig.Pool }, exposePool},
		{"db_sessions", "count", func(s summary.Sample) float64 { return s.DBSessions }, count, queried,
			func(sig summary.Signals) bool { return sig.Database }, exposeDatabase},
	}
}

// soak is one soak run's state: the p99 windows fill from the hits, the rest from the sampler.
type soak struct {
	live  *Live
	n     int         // windows
	p99   [][]float64 // intended latencies (ms) of the counted hits, per window
	stats *summary.SoakStats
}

// judged is the span the windows cover: from the warm-up's end to the attack's end as planned.
func (k *soak) judged() (from time.Time, width time.Duration) {
	s := k.live.Settings.Soak
	return k.live.AttackStart().Add(s.Warmup), (s.Duration - s.Warmup) / time.Duration(k.n)
}

func (k *soak) observe(h *attack.Hit) {
	if !h.Counted {
		return
	}
	from, width := k.judged()
	i := int(h.Timestamp.Add(-h.Late).Sub(from) / width) // by intended send time
	i = min(max(i, 0), k.n-1)
	k.p99[i] = append(k.p99[i], summary.Ms(h.IntendedLatency()))
}

func (k *soak) check(_ context.Context, sc *summary.Scenario) {
	st := k.compute()
	s := k.live.Settings
	sc.Checks = append(sc.Checks, check("error ratio", sc.ErrorRatio <= s.MaxErrorRate,
		fmt.Sprintf("≤ %.2f%%", 100*s.MaxErrorRate), fmt.Sprintf("%.2f%%", 100*sc.ErrorRatio)))
	for _, r := range st.Resources {
		sc.Checks = append(sc.Checks, soakCheck(r))
	}
}

func (k *soak) collect(sc *summary.Scenario) { sc.Soak = k.compute() }

// compute fits every resource once (check and collect both ask).
func (k *soak) compute() *summary.SoakStats {
	if k.stats != nil {
		return k.stats
	}
	l := k.live
	set := l.Settings.Soak
	from, width := k.judged()
	fromMs, toMs := l.Offset(from), l.Offset(from.Add(width*time.Duration(k.n)))
	st := &summary.SoakStats{WarmupMs: summary.Ms(set.Warmup), FromMs: fromMs, JudgedMs: toMs - fromMs, Windows: k.n,
		Method: fmt.Sprintf("Theil–Sen slope over %d windows of %s after the warm-up (each window's floor; p99 of its requests), Sen's 95%% interval; PASS below the limit, FAIL above, INVALID when it holds the limit", k.n, width.Round(time.Second))}
	samples := l.Sampler.Samples()
	for _, r := range soakResources() {
		var xs, ys []float64
		seen := false
		for _, sm := range samples {
			if r.readable(sm) {
				xs, ys = append(xs, sm.OffsetMs), append(ys, r.value(sm))
				seen = seen || r.value(sm) > 0
			}
		}
		res := summary.SoakResource{Name: r.name, Unit: r.unit, Window: "floor", LimitPerHour: r.limit(set)}
		if !r.exposed(l.Signals) || !seen {
			res.Verdict, res.Reason = summary.Skipped, "not available: "+r.expose
			st.Resources = append(st.Resources, res)
			continue
		}
		pts := trend.Windows(xs, ys, fromMs, toMs, k.n, trend.Floor)
		st.Resources = append(st.Resources, judgeTrend(res, pts, fromMs, set.Warmup))
	}
	// p99: the windows' own requests, X at each window's middle.
	var pts []trend.Point
	for i, v := range k.p99 {
		if len(v) > 0 {
			pts = append(pts, trend.Point{X: (float64(i) + 0.5) * (toMs - fromMs) / float64(k.n), Y: trend.Quantile(v, 0.99)})
		}
	}
	p99 := summary.SoakResource{Name: "p99", Unit: "ms", Window: "p99", LimitPerHour: summary.Ms(set.P99Drift)}
	st.Resources = append(st.Resources, judgeTrend(p99, pts, fromMs, set.Warmup))
	k.stats = st
	return st
}

const msPerHour = float64(time.Hour / time.Millisecond)

// judgeTrend fits pts (X in ms from the judged span's start) and fills res's slope, interval,
// series and verdict.
func judgeTrend(res summary.SoakResource, pts []trend.Point, fromMs float64, warmup time.Duration) summary.SoakResource {
	hours := make([]trend.Point, len(pts))
	for i, p := range pts {
		hours[i] = trend.Point{X: p.X / msPerHour, Y: p.Y}
		res.Series = append(res.Series, summary.SoakPoint{OffsetMs: fromMs + p.X, Value: p.Y})
	}
	f, ok := trend.TheilSen(hours, trend.Z95)
	if !ok {
		res.Verdict = summary.Invalid
		res.Reason = fmt.Sprintf("cannot tell: only %d windows had readings, a trend needs %d", len(pts), trend.MinPoints)
		return res
	}
	res.SlopePerHour, res.LowPerHour, res.HighPerHour, res.Intercept = f.Slope, f.Low, f.High, f.Intercept
	got := fmt.Sprintf("%s %s/h (95%%: %s to %s)", signed(f.Slope), res.Unit, signed(f.Low), signed(f.High))
	switch trend.Judge(f, res.LimitPerHour) {
	case trend.Below:
		res.Verdict, res.Reason = summary.Pass, got+", under the limit"
	case trend.Above:
		res.Verdict, res.Reason = summary.Fail, fmt.Sprintf("%s grows %s, over the limit of %s %s/h", res.Name, got, chartNum(res.LimitPerHour), res.Unit)
	default:
		res.Verdict = summary.Invalid
		res.Reason = fmt.Sprintf("too short to tell: %s holds the limit of %s %s/h; run ≥ %s", got, chartNum(res.LimitPerHour), res.Unit,
			minutes(warmup, trend.Needed(f, res.LimitPerHour)))
	}
	return res
}

// soakCheck turns a resource's trend into a check: a leak is the server's failure, p99 drift a
// performance objective's, "cannot tell" a validity failure.
func soakCheck(r summary.SoakResource) summary.Check {
	name := "soak: " + r.Name + " trend"
	want := fmt.Sprintf("< %s %s/h (the 95%% interval under the limit)", chartNum(r.LimitPerHour), r.Unit)
	switch r.Verdict {
	case summary.Skipped:
		c := summary.NewCheck(summary.Correctness, name, true, want, r.Reason)
		c.NotMeasured = true
		return c
	case summary.Invalid:
		return summary.NewCheck(summary.Validity, name, false, want, r.Reason)
	case summary.Fail:
		if r.Name == "p99" {
			return objective(name, false, want, r.Reason)
		}
		return check(name, false, want, r.Reason)
	}
	return check(name, true, want, r.Reason)
}

func signed(v float64) string { return fmt.Sprintf("%+.3g", v) }

func chartNum(v float64) string { return fmt.Sprintf("%.4g", v) }

// minutes is the warm-up plus a judged span of hours, rounded up to whole minutes: "47 min".
// Past a day the estimate says only that the slope sits near the limit.
func minutes(warmup time.Duration, hours float64) string {
	if math.IsInf(hours, 0) || hours > 24 {
		return "far longer (the slope sits near the limit)"
	}
	return fmt.Sprintf("%.0f min", math.Ceil(warmup.Minutes()+hours*60))
}
