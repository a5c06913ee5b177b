// Package attack is the harness's load engine: it runs one vegeta attack, turns every result
// into a Hit (class, send lateness, counted or warm-up) and hands it to a list of consumers
// (the .bin writer, the aggregator behind Figures, then the caller's), and judges whether the
// generator kept up.
//
//	f, err := attack.Attack(ctx, attack.Config{
//		Scenario: "steady", Pacer: vegeta.ConstantPacer{Freq: 100, Per: time.Second},
//		Duration: 10 * time.Second, Warmup: 2 * time.Second, Targeter: attack.NewTargeter(opts),
//		Timeout: 5 * time.Second, ResultsPath: "steady.bin", Origin: scenarioStart,
//	}, liveLine, metricsConsumer)
//	f.Fill(&sc)                                // client-side fields of summary.Scenario
//	sc.Checks = append(sc.Checks, f.Checks...) // validity checks
//
// What it measures and why (intended send times, windows, validity, memory, cost) is in
// docs/engine.md and docs/design/engine.md.
package attack
