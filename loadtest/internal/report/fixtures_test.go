package report

import (
	"math"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// The fixed summaries the golden tests render. They are built here rather than read from JSON so
// that a schema change breaks compilation, and the figures are formulas (no randomness) so the
// golden files are stable across Go versions.

var t0 = time.Date(2026, 11, 25, 2, 14, 0, 0, time.UTC)

func env() summary.Environment {
	return summary.Environment{
		Commit: "4ad1b40c0ffee1234567890abcdef1234567890a", GoVersion: "go1.26.8", OS: "linux", Arch: "amd64",
		NumCPU: 2, Target: "http://127.0.0.1:18080", Admin: "http://127.0.0.1:16060", ManagedBy: "harness",
		JaegerURL: "http://127.0.0.1:16686", ServerInfo: "items-server dev (go1.26.8)",
	}
}

func settings(profile string) summary.Settings {
	return summary.Settings{
		Profile: profile, Scenarios: []string{"steady", "cancel", "shutdown", "ramp"}, Seed: 42,
		TraceSample: 0.1, SLOP99Ms: 250, MaxErrorRate: 0.01,
		Values: map[string]string{"out": "bench-results", "duration": "20s", "max-neighbour-share": "0.1"},
		Rates:  map[string]float64{"steady": 200, "cancel": 100, "shutdown": 100},
	}
}

// windows makes n one-second windows around a base latency, with a spike at spikeAt.
func windows(n int, rate, base float64, spikeAt int) []summary.Window {
	ws := make([]summary.Window, n)
	for i := range ws {
		wave := 1 + 0.2*math.Sin(float64(i)/3)
		p50 := base * wave
		p99 := p50 * 3
		if i == spikeAt {
			p99 *= 6
		}
		ws[i] = summary.Window{
			StartMs: float64(i) * 1000, Requests: int64(rate), Rate: rate, Throughput: rate - float64(i%3),
			Errors: int64(i % 3), P50: round2(p50), P99: round2(p99), Max: round2(p99 * 1.4),
		}
	}
	return ws
}

// timeline makes samples every 250 ms for d milliseconds (the sampler uses 100 ms; coarser keeps
// the golden files small).
func timeline(d float64, goroutines float64) []summary.Sample {
	var ss []summary.Sample
	for off := 0.0; off <= d; off += 250 {
		x := off / 1000
		ss = append(ss, summary.Sample{
			OffsetMs: off, Goroutines: goroutines + math.Round(10*math.Abs(math.Sin(x))), HeapBytes: 6e6 + 2e6*math.Abs(math.Sin(x/2)),
			InFlight: math.Round(4 * math.Abs(math.Sin(x*1.3))), PoolAcquired: math.Round(3 * math.Abs(math.Sin(x*1.3))),
			PoolIdle: 2, PoolTotal: 5 + math.Round(math.Abs(math.Sin(x))), DBActive: math.Round(3 * math.Abs(math.Sin(x*1.3))),
			ServerState: "ready",
		})
	}
	return ss
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func lat(p50 float64) summary.Latencies {
	return summary.Latencies{Min: p50 / 5, Mean: p50 * 1.2, P50: p50, P90: p50 * 2, P95: p50 * 2.5, P99: p50 * 3.5, P999: p50 * 6, Max: p50 * 9}
}

func steady(verdict summary.Verdict) summary.Scenario {
	s := summary.Scenario{
		Name: "steady", Description: "constant open-model rate, 80% GET / 20% POST", Verdict: verdict,
		Checks: []summary.Check{
			{Name: "error ratio", Pass: true, Want: "≤ 1.00%", Got: "0.05%"},
			{Name: "p99 latency", Pass: true, Want: "≤ 250 ms", Got: "14 ms"},
			{Name: "achieved rate", Pass: true, Want: "≥ 99% of 200/s", Got: "199.9/s", Kind: summary.Validity},
		},
		StartedAt: t0, DurationMs: 20000, WarmupMs: 2000,
		TargetRate: 200, AchievedRate: 199.9, Throughput: 199.8, Requests: 3998, Successes: 3996, SuccessRatio: 0.9995, ErrorRatio: 0.0005,
		StatusCodes:  map[string]int64{"200": 3196, "201": 800, "0": 2},
		ErrorClasses: map[string]int64{"timeout": 2},
		Latency:      lat(4), LatencyIntended: lat(4.4), SendLateness: lat(0.05),
		Windows:  windows(20, 200, 4, 12),
		Timeline: timeline(21000, 20),
		Events:   []summary.Event{{OffsetMs: 0, Name: summary.EventStart}, {OffsetMs: 20000, Name: summary.EventEnd}},
		Slowest: []summary.Request{
			{OffsetMs: 12034, Method: "POST", URL: "/api/v1/items", Code: 201, LatencyMs: 36.5, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Sampled: true, TraceURL: "http://127.0.0.1:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736"},
			{OffsetMs: 3400, Method: "GET", URL: "/api/v1/items?limit=20", Code: 200, LatencyMs: 30.1, TraceID: "00f067aa0ba902b7a3ce929d0e0e4736"},
			{OffsetMs: 15500, Method: "GET", URL: "/api/v1/items/17", Code: 0, LatencyMs: 30, Error: "context deadline exceeded", Class: "timeout"},
		},
		Profiles: []summary.Profile{{Kind: "cpu", File: "steady.cpu.pprof"}, {Kind: "heap", File: "steady.heap.pprof"}},
		TopCPU: []summary.Function{
			{Name: "runtime.mallocgc", FlatMs: 410, FlatPct: 8.2, CumMs: 900, CumPct: 18},
			{Name: "github.com/jackc/pgx/v5/pgproto3.(*Frontend).Receive", FlatMs: 300, FlatPct: 6, CumMs: 1200, CumPct: 24},
			{Name: "encoding/json.(*encodeState).marshal", FlatMs: 120, FlatPct: 2.4, CumMs: 400, CumPct: 8},
		},
		Server: summary.ServerStats{GoroutinesBaseline: 20, GoroutinesPeak: 30, GoroutinesAfter: 20, HeapPeakBytes: 8e6, PoolAcquiredPeak: 3, PoolMaxConns: 8, DBActivePeak: 3, SettleMs: 120, CPUPerRequestUs: 412, HarnessCPUPerRequestUs: 380},
		Files:  map[string]string{"results": "steady.bin", "timeline": "steady.timeline.json"},
	}
	return s
}

func cancelScenario() summary.Scenario {
	s := steady(summary.Pass)
	s.Name, s.Description = "cancel", "10% of requests sleep 2 s in PostgreSQL; the client gives up after 500 ms"
	s.Checks = []summary.Check{
		{Name: "goroutines back to baseline", Pass: true, Want: "≤ 20 + 5 within 1 s", Got: "21"},
		{Name: "pool acquired after settle", Pass: true, Want: "0", Got: "0"},
		{Name: "cancelled queries still running", Pass: true, Want: "0", Got: "0"},
	}
	s.DurationMs, s.Throughput = 10000, 90
	s.TargetRate, s.AchievedRate, s.Requests, s.Successes = 100, 100, 1000, 900
	s.SuccessRatio, s.ErrorRatio = 0.9, 0.1
	s.StatusCodes = map[string]int64{"200": 900, "0": 100}
	s.ErrorClasses = map[string]int64{"cancelled": 100}
	s.Windows = windows(10, 100, 5, -1)
	s.Timeline = timeline(11000, 20)
	s.Events = []summary.Event{{OffsetMs: 0, Name: summary.EventStart}, {OffsetMs: 2000, Name: summary.EventCancelWave, Detail: "100 delayed requests"}, {OffsetMs: 10000, Name: summary.EventEnd}}
	s.Cancel = &summary.CancelStats{CancelsSent: 100, CancelsSeen: 100, CleanupMs: 35, StillRunning: 0, PoolAcquiredAfter: 0, GoroutinesLeaked: 1,
		NonCancelledP99Ms: 15, DelayMs: 2000, ClientTimeoutMs: 500, CancelShare: 0.1}
	s.TopCPU, s.Profiles = nil, nil
	return s
}

func rampScenario() summary.Scenario {
	s := steady(summary.Pass)
	s.Name, s.Description = "ramp", "steps the rate up until p99 leaves the SLO"
	s.Checks = nil
	s.Ramp = &summary.RampStats{CapacityRate: 800, Limit: "server",
		StopReason: "the server saturated at 1600 req/s: p99 900.0 ms from the actual send, 1100.0 ms from the intended send; send lateness p99 30.0 ms; 1400 in flight at peak; 4.00% errors",
		Steps: []summary.RampStep{
			{Rate: 200, AchievedRate: 200, P99Ms: 12, P99IntendedMs: 12.5, WithinSLO: true},
			{Rate: 400, AchievedRate: 399.8, P99Ms: 30, P99IntendedMs: 31, WithinSLO: true},
			{Rate: 800, AchievedRate: 797, P99Ms: 140, P99IntendedMs: 150, ErrorRatio: 0.001, WithinSLO: true},
			{Rate: 1600, AchievedRate: 1210, P99Ms: 900, P99IntendedMs: 1100, ErrorRatio: 0.04, WithinSLO: false},
		}}
	s.TopCPU, s.Profiles, s.Slowest = nil, nil, nil
	return s
}

// passingRun returns a run in which every scenario passed.
func passingRun() summary.Run {
	sc := []summary.Scenario{steady(summary.Pass), cancelScenario(), rampScenario()}
	return summary.Run{SchemaVersion: 1, ID: "20261125T021400Z", StartedAt: t0, FinishedAt: t0.Add(2*time.Minute + 40*time.Second),
		Verdict: summary.Overall(sc), Env: env(), Settings: settings("default"), Scenarios: sc}
}

// failingRun returns a run with a shutdown whose drain timeout is shorter than the held requests
// (forced, lost requests, a missing write), plus hostile strings in names and reasons.
func failingRun() summary.Run {
	sd := steady(summary.Fail)
	sd.Name, sd.Description = "shutdown-forced", "SIGTERM at 3 s with requests held 5 s; SHUTDOWN_TIMEOUT=1s"
	sd.Reasons = []string{
		"3 accepted requests lost (reset 2, EOF 1) | forced shutdown after 1 s drain timeout",
		"1 acknowledged write missing from PostgreSQL <script>alert('x')</script>",
	}
	sd.Diagnosis = []summary.Cause{
		{Name: summary.CauseDatabase, Evidence: "7.6 sessions waiting on Lock and 0.0 on IO on average; " +
			"in the p99's window at 4 s (20 samples): Lock:relation in 11 (up to 8 sessions)"},
		{Name: summary.CauseLeak, Evidence: "119 goroutines over the baseline <b>after</b> the settle time"},
	}
	sd.Checks = []summary.Check{
		{Name: "nothing accepted lost", Pass: false, Want: "0", Got: "3"},
		{Name: "acknowledged writes persisted", Pass: false, Want: "41 / 41", Got: "40 / 41"},
		{Name: "readyz flipped before listener closed", Pass: true, Want: "flip < close", Got: "12 ms < 1.01 s"},
		{Name: "clean exit within drain timeout", Pass: false, Want: "exit 0 ≤ 1 s", Got: "exit 3 after 1.02 s"},
	}
	sd.DurationMs, sd.Throughput = 5000, 84
	sd.TargetRate, sd.AchievedRate, sd.Requests, sd.Successes = 100, 99.5, 500, 420
	sd.SuccessRatio, sd.ErrorRatio = 0.84, 0.16
	sd.StatusCodes = map[string]int64{"200": 380, "201": 40, "0": 77, "503": 3}
	sd.ErrorClasses = map[string]int64{"refused": 74, "reset": 2, "eof": 1, "http_5xx": 3}
	sd.Windows = windows(5, 100, 6, 3)
	sd.Windows[4].Requests, sd.Windows[4].Errors, sd.Windows[4].Throughput = 100, 77, 23
	sd.Timeline = timeline(4500, 25)
	for i := range sd.Timeline {
		if sd.Timeline[i].OffsetMs >= 4100 {
			// The server is gone: the sampler records failed reads with zero values.
			sd.Timeline[i] = summary.Sample{OffsetMs: sd.Timeline[i].OffsetMs, ScrapeFailed: true, DBQueryFailed: true}
		} else if sd.Timeline[i].OffsetMs >= 3000 {
			sd.Timeline[i].ServerState, sd.Timeline[i].DBSleeping = "draining", 3
		}
		// The kernel's view: the backlog fills after SIGTERM, the listener is gone at 4.01 s.
		switch off := sd.Timeline[i].OffsetMs; {
		case off >= 4010:
			sd.Timeline[i].Net = &summary.NetSample{States: map[string]int{"TIME_WAIT": 40}}
		case off >= 3000:
			sd.Timeline[i].Net = &summary.NetSample{AcceptQueue: 9, AcceptLimit: 8, Listeners: 1, States: map[string]int{"ESTABLISHED": 14}}
		default:
			sd.Timeline[i].Net = &summary.NetSample{AcceptLimit: 8, Listeners: 1, States: map[string]int{"ESTABLISHED": 5}}
		}
	}
	sd.Net = &summary.NetStats{SharedNamespace: true, AcceptQueuePeak: 9, AcceptQueueLimit: 8,
		Counters: map[string]int64{"ListenOverflows": 41, "ListenDrops": 41, "OutRsts": 222, "EstabResets": 19}}
	sd.Events = []summary.Event{
		{OffsetMs: 0, Name: summary.EventStart}, {OffsetMs: 3000, Name: summary.EventSigterm}, {OffsetMs: 3012, Name: summary.EventReadyz503},
		{OffsetMs: 4010, Name: summary.EventListenerClosed}, {OffsetMs: 4020, Name: summary.EventExit, Detail: "exit code 3 <b>forced</b>"}, {OffsetMs: 5000, Name: summary.EventEnd},
	}
	sd.Lost = []summary.Request{
		{OffsetMs: 2100, Method: "GET", URL: "http://127.0.0.1:18080/api/v1/items?q=a|b#bench-delay", Code: 0, LatencyMs: 1920, Error: "read: connection reset by peer", Class: "lost", TraceID: "aaaabbbbccccddddeeeeffff00001111", Sampled: true, TraceURL: "http://127.0.0.1:16686/trace/aaaabbbbccccddddeeeeffff00001111"},
		{OffsetMs: 2300, Method: "POST", URL: "/api/v1/items", Code: 0, LatencyMs: 1720, Error: "EOF", Class: "lost", TraceID: "aaaabbbbccccddddeeeeffff00002222"},
		{OffsetMs: 2500, Method: "GET", URL: "/api/v1/items/3", Code: 0, LatencyMs: 1520, Error: "javascript link refused", Class: "lost", TraceID: "aaaabbbbccccddddeeeeffff00003333", Sampled: true, TraceURL: "javascript:alert(1)"},
	}
	sd.Shutdown = &summary.ShutdownStats{SigtermOffsetMs: 3000, ReadyzFlipMs: 12, ListenerClosedMs: 1010, DrainMs: 1020, ExitCode: 3, DrainTimeoutMs: 1000, Forced: true,
		Classes:     map[string]int64{"completed_before": 300, "completed_after": 120, "refused": 74, "accept_queue_reset": 2, "lost": 3},
		WritesAcked: 41, WritesFound: 40, MissingIDs: []int64{1234}, LongestInFlightMs: 5000, AcceptQueueSeen: 9,
		AcceptQueue: []summary.Request{{OffsetMs: 3400, Method: "GET", URL: "/api/v1/items/7", LatencyMs: 610,
			Error: `Get "/api/v1/items/7": (local 127.0.0.1:40312) read: connection reset by peer`, Class: "accept_queue_reset"}}}
	sd.TopCPU, sd.Profiles = nil, nil

	st := steady(summary.Pass)
	st.Contention = contention(st.Windows)
	sc := []summary.Scenario{st, sd}
	return summary.Run{SchemaVersion: 1, ID: "20261125T030000Z", StartedAt: t0, FinishedAt: t0.Add(90 * time.Second),
		Verdict: summary.Overall(sc), Env: env(), Settings: settings("quick"), Scenarios: sc}
}

// interruptedRun returns a run stopped by Ctrl-C during the second scenario; the third never
// started.
func interruptedRun() summary.Run {
	st := steady(summary.Pass)
	c := cancelScenario()
	c.Verdict = summary.Interrupted
	c.Reasons = []string{"interrupted by SIGINT after 4.2 s of 10 s"}
	c.Windows = c.Windows[:4]
	c.Timeline = c.Timeline[:17]
	c.Events = append(c.Events[:2:2], summary.Event{OffsetMs: 4200, Name: summary.EventEnd, Detail: "interrupted"})
	c.DurationMs, c.Requests, c.Successes = 4200, 420, 380
	sk := summary.Scenario{Name: "shutdown", Description: "SIGTERM under load", Verdict: summary.Skipped,
		Reasons: []string{"not run: the run was interrupted"}}
	sc := []summary.Scenario{st, c, sk}
	return summary.Run{SchemaVersion: 1, ID: "20261125T031500Z", StartedAt: t0, FinishedAt: t0.Add(31 * time.Second),
		Verdict: summary.Interrupted, Partial: true, PartialReason: "interrupted by SIGINT", Env: env(), Settings: settings("default"), Scenarios: sc}
}

// skippedRun returns a run against an external target (no signals), so shutdown is skipped; one
// data point only in the steady scenario, and no Jaeger: trace ids are plain.
func skippedRun() summary.Run {
	st := steady(summary.Pass)
	st.Windows = st.Windows[:1]
	st.Timeline = st.Timeline[:1]
	st.Events = st.Events[:1]
	for i := range st.Slowest {
		st.Slowest[i].TraceURL = ""
	}
	sk := summary.Scenario{Name: "shutdown", Description: "SIGTERM under load", Verdict: summary.Skipped,
		Reasons: []string{"target is external (-target): the harness cannot send it signals"}}
	sc := []summary.Scenario{st, sk}
	e := env()
	e.ManagedBy, e.JaegerURL, e.Target = "external", "", "http://127.0.0.1:8080"
	return summary.Run{SchemaVersion: 1, ID: "20261125T032000Z", StartedAt: t0, FinishedAt: t0.Add(25 * time.Second),
		Verdict: summary.Overall(sc), Env: e, Settings: settings("quick"), Scenarios: sc}
}

// deployRun: a restart that left refused requests and a gap (FAIL), and a handoff that did not
// (PASS); one failed request's URL is hostile.
func deployRun() summary.Run {
	deploy := func(strategy string, verdict summary.Verdict) summary.Scenario {
		s := steady(verdict)
		s.Name, s.Description = "deploy", "a new server takes over by "+strategy
		s.TopCPU, s.Profiles, s.Slowest = nil, nil, nil
		s.Events = []summary.Event{
			{OffsetMs: 0, Name: summary.EventStart}, {OffsetMs: 2000, Name: summary.EventSuccessor, Detail: "inherits the listener (LISTEN_FDS=1)"},
			{OffsetMs: 2400, Name: summary.EventSuccessorReady}, {OffsetMs: 2401, Name: summary.EventSigterm, Detail: "old server"},
			{OffsetMs: 3420, Name: summary.EventExit, Detail: "old server: code 0"}, {OffsetMs: 5000, Name: summary.EventEnd},
		}
		d := &summary.DeployStats{Strategy: strategy, MigrateReq: -1, SwitchOffsetMs: 2401, SuccessorReadyMs: 2400, GapMs: 21, GapStartMs: 3000,
			MaxGapMs: 500, Failures: map[string]int64{}, SwitchBucketMs: 500, OldExitCode: 0, OldDrainMs: 1019, DrainLimitMs: 6300,
			WritesAcked: 40, WritesFound: 40, AcceptQueue: []summary.AcceptQueueSample{},
			Instances: []summary.DeployInstance{{ID: "0a1b2c3d4e5f6071", Role: "old", Answers: 260, FirstAnswerMs: 12, LastAnswerMs: 3400},
				{ID: "8899aabbccddeeff", Role: "new", Answers: 240, FirstAnswerMs: 2410, LastAnswerMs: 4995}}}
		for i := range 10 {
			b := summary.SwitchBucket{OffsetMs: float64(i) * 500}
			switch {
			case i < 5:
				b.Old = 50
			case i < 7:
				b.Old, b.New = 20, 30
			default:
				b.New = 50
			}
			d.Switch = append(d.Switch, b)
		}
		s.Deploy = d
		return s
	}
	ok := deploy("handoff", summary.Pass)
	bad := deploy("restart", summary.Fail)
	bad.Reasons = []string{"failed requests: 3 (refused 2, eof 1)", "longest gap between answers: 1.2 s"}
	d := bad.Deploy
	d.GapMs, d.GapStartMs, d.SuccessorReadyMs = 1200, 2620, 3800
	d.Failures = map[string]int64{"refused": 2, "eof": 1}
	d.Failed = []summary.Request{
		{OffsetMs: 2650, Method: "GET", URL: "/api/v1/items?q=<script>", Error: "dial tcp 127.0.0.1:18080: connect: connection refused", Class: "refused"},
		{OffsetMs: 2700, Method: "POST", URL: "/api/v1/items", Error: "dial tcp 127.0.0.1:18080: connect: connection refused", Class: "refused"},
		{OffsetMs: 2395, Method: "GET", URL: "/api/v1/items/7", LatencyMs: 12, Error: "EOF", Class: "eof", TraceID: "aaaabbbbccccddddeeeeffff00004444"},
	}
	d.Switch[5], d.Switch[6] = summary.SwitchBucket{OffsetMs: 2500, Old: 10, Failed: 30}, summary.SwitchBucket{OffsetMs: 3000, Failed: 40}
	sc := []summary.Scenario{bad, ok}
	return summary.Run{SchemaVersion: 1, ID: "20261125T040000Z", StartedAt: t0, FinishedAt: t0.Add(40 * time.Second),
		Verdict: summary.Overall(sc), Env: env(), Settings: settings("default"), Scenarios: sc}
}

// soakRun: a soak whose live heap leaks (FAIL), whose goroutines could not be told (INVALID),
// whose p99 is flat (PASS) and whose pool is not exposed.
func soakRun() summary.Run {
	sk := steady(summary.Fail)
	sk.Name, sk.Description = "soak", "steady open-model load for -soak-duration; verdict on each resource's trend"
	sk.Reasons = []string{"soak: heap_live trend: got heap_live grows +120 MiB/h (95%: +110 to +130), over the limit of 16 MiB/h"}
	sk.TopCPU, sk.Profiles = nil, nil
	const from, judged, n = 3000.0, 20000.0, 10
	series := func(a, b, wobble float64) []summary.SoakPoint {
		ps := make([]summary.SoakPoint, n)
		for i := range ps {
			off := from + (float64(i)+0.5)*judged/n
			ps[i] = summary.SoakPoint{OffsetMs: off, Value: round2(a + b*(off-from)/3.6e6 + wobble*math.Sin(float64(i)))}
		}
		return ps
	}
	sk.Soak = &summary.SoakStats{WarmupMs: 2000, FromMs: from, JudgedMs: judged, Windows: n,
		Method: "Theil–Sen slope over 10 windows after the warm-up, Sen's 95% interval",
		Resources: []summary.SoakResource{
			{Name: "heap_live", Unit: "MiB", Window: "floor", SlopePerHour: 120, LowPerHour: 110, HighPerHour: 130, LimitPerHour: 16,
				Intercept: 3, Verdict: summary.Fail, Reason: "heap_live grows +120 MiB/h (95%: +110 to +130), over the limit of 16 MiB/h",
				Series: series(3, 120, 0.05)},
			{Name: "goroutines", Unit: "count", Window: "floor", SlopePerHour: 30, LowPerHour: -400, HighPerHour: 460, LimitPerHour: 60,
				Intercept: 14, Verdict: summary.Invalid, Reason: "too short to tell: +30 count/h (95%: -400 to +460) holds the limit of 60 count/h; run ≥ 9 min",
				Series: series(14, 30, 1)},
			{Name: "pool_total", Unit: "count", Window: "floor", LimitPerHour: 60, Verdict: summary.Skipped,
				Reason: "not available: expose pgxpool_acquired_conns <b>(pgxpool's collector)</b>"},
			{Name: "p99", Unit: "ms", Window: "p99", SlopePerHour: -2, LowPerHour: -9, HighPerHour: 6, LimitPerHour: 20,
				Intercept: 5, Verdict: summary.Pass, Reason: "-2 ms/h (95%: -9 to +6), under the limit", Series: series(5, -2, 0.8)},
		}}
	sc := []summary.Scenario{sk}
	set := settings("default")
	set.Scenarios, set.Rates = []string{"soak"}, map[string]float64{"soak": 200}
	return summary.Run{SchemaVersion: 1, ID: "20261125T040000Z", StartedAt: t0, FinishedAt: t0.Add(30 * time.Minute),
		Verdict: summary.Overall(sc), Env: env(), Settings: set, Scenarios: sc}
}

// contention: our threads waited more in the middle windows, while a neighbour ran.
func contention(ws []summary.Window) *summary.Contention {
	c := &summary.Contention{ServerWaitMs: 120, DatabaseWaitMs: 60, HarnessWaitMs: 90, RunMs: 900, PerRequestWaitMs: 0.0675, Share: 0.23, ForeignCPUs: 0.4,
		SchedLatency: &summary.SchedLatency{P50Ms: 0.002, P99Ms: 0.9}}
	for i, w := range ws {
		x := float64(i)
		cw := summary.ContentionWindow{StartMs: w.StartMs, Requests: w.Requests, P99Ms: w.P99,
			ServerWaitMs: round2(6 + 4*math.Abs(math.Sin(x))), DatabaseWaitMs: round2(3 * math.Abs(math.Cos(x))), HarnessWaitMs: 4.5, RunMs: 45, ForeignCPUs: 0.4, SchedP99Ms: 0.9}
		cw.PerRequestWaitMs = (cw.ServerWaitMs + cw.DatabaseWaitMs + cw.HarnessWaitMs) / float64(max(cw.Requests, 1))
		cw.DelayPerRunMs = [3]float64{round2(0.05 + 0.1*math.Abs(math.Sin(x))), 0.04, 0.06}
		cw.PathDelayMs = 2*cw.DelayPerRunMs[0] + cw.DelayPerRunMs[1] + 2*cw.DelayPerRunMs[2]
		cw.PeakDelayPerRunMs = [3]float64{round2(3 * cw.DelayPerRunMs[0]), round2(0.2 + 0.6*math.Abs(math.Sin(x/3))), 0.15}
		c.Windows = append(c.Windows, cw)
	}
	mid := c.Windows[len(ws)/2]
	c.Neighbour = summary.Neighbour{WindowStartMs: mid.StartMs, RunQueueDelayMs: mid.PathDelayMs, JudgedMs: 15.4, LimitMs: 1.54,
		SlowWaitMs: mid.PeakDelayPerRunMs[1], SlowAtMs: mid.StartMs + 300, SlowRole: "database", SlowForeignCPUs: 0.4, SlowRequestsSeen: 10}
	return c
}
