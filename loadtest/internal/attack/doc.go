// Package attack is the harness's load engine: it runs one vegeta attack for a scenario, streams
// every result to <scenario>.bin as it arrives, and aggregates the client-side figures of
// summary.Scenario with bounded memory.
//
// Usage from a scenario:
//
//	tr := attack.NewTargeter(attack.TargetOptions{
//		BaseURL: target, Token: token, PostShare: attack.DefaultPostShare, Seed: seed,
//		TraceSample: 0.1, DelayShare: 0.2, Delay: 2 * time.Second,
//	})
//	out, err := attack.Run(ctx, attack.Config{
//		Scenario: "steady", Pacer: vegeta.ConstantPacer{Freq: 100, Per: time.Second},
//		Duration: 10 * time.Second, Warmup: 2 * time.Second, Targeter: tr,
//		Timeout: 5 * time.Second, ResultsPath: filepath.Join(dir, "steady.bin"),
//		Origin: scenarioStart, // Window.StartMs and Slowest offsets on the sampler's timeline
//		JaegerURL: jaeger, SlowestN: 10,
//		OnResult: func(r *vegeta.Result) { if attack.Delayed(r) { ... } },
//		Progress: line, Metrics: metrics,
//	})
//	out.Fill(&sc)                                // client-side fields of summary.Scenario
//	sc.Checks = append(sc.Checks, out.Checks...) // validity checks, Kind summary.Validity
//
// What it measures, and why:
//   - Latency from the actual send time (vegeta's Result.Latency, aggregated with vegeta's own
//     t-digest so that `vegeta report` on the .bin gives the same p99) and from the intended send
//     time: hit n of a ConstantPacer is due at (n+1)/rate, hit n of a LinearPacer when the pacer's
//     hit count reaches n+1 (hit 0 at once), as vegeta's pacer.go defines them (its linear Pace lags
//     that formula on the first hits of a steep ramp; the lag counts as lateness). The
//     difference is the generator's send lateness; when it is large the client itself was the
//     bottleneck (coordinated omission), and the intended-time figures are the honest ones.
//   - Warm-up: one attack runs for Warmup+Duration; a hit is counted when its intended send time
//     falls in (Warmup, Warmup+Duration] (or [0, Duration] without warm-up). Warm-up results are
//     not written to the .bin file, so the file and summary.json count the same requests.
//   - Validity (summary.Check with Kind summary.Validity): the scenario is INVALID when fewer than 99 % of
//     the scheduled hits were sent (one hit of slack for the window's edge), when the send
//     lateness p99 exceeds MaxLatenessP99 (default 50 ms), or when a send was late while every
//     one of MaxWorkers workers was busy.
//   - Windows: one per second of the counted attack, by intended send time ((k, k+1] s), finalised
//     once no result can still land in them (Timeout + 5 s later), so memory stays flat.
//   - Slowest: the SlowestN slowest counted requests (a heap), with their trace id (TraceOf: the
//     response's traceresponse, else the traceparent sent) and a Jaeger link when sampled.
//
// The targeter's notes ride in the target URL's fragment, which net/http never sends and vegeta
// copies into Result.URL: "#tp=<trace id>-<flags>[&bench-delay]". Delayed and TraceOf read them;
// StripNotes removes them.
//
// Result bodies of successful GETs are dropped before encoding (they are large and nobody reads
// them); POST bodies (the shutdown scenario reads the created ids) and error bodies are kept.
//
// Cancelling ctx stops the attack at once: in-flight requests are aborted (class "cancelled"),
// what arrived is kept, and Outcome.Interrupted is set.
package attack
