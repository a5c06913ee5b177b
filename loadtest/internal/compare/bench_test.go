package compare

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkAAFalseAlarm compares many seeded pairs of synthetic sides drawn from one
// distribution (with per-run drift, as real runs have) and reports how often the comparison
// would fail a CI gate: the false-alarm rate, target ≤ 5 %. It also reports the detection rate
// of a +5 ms slowdown on the same seeds, so that a threshold change that buys fewer false alarms
// with blindness shows up here. Each iteration uses the same seeds: the figures are exact and
// repeatable; the timing is incidental.
func BenchmarkAAFalseAlarm(b *testing.B) {
	// drift is the σ of a whole run's latency factor: 3 % is a quiet machine, 10 % a noisy
	// shared runner, 30 % a machine other jobs load on and off. Both sides get the same drift
	// distribution (an A/A), so every alarm is false.
	// scDrift adds a drift of each scenario of a run of its own: scenarios that drift apart make
	// more metrics independent, which is what a family-wise correction has to pay for.
	for _, d := range []struct{ drift, scDrift float64 }{{0.03, 0}, {0.10, 0}, {0.30, 0}, {0.10, 0.10}, {0.10, 0.30}} {
		b.Run(fmt.Sprintf("drift=%g/scenario=%g", d.drift, d.scDrift), func(b *testing.B) {
			const pairs = 200
			const runs = 4 // runs per side, as make regress's default ROUNDS
			same := defaultSynth()
			same.drift, same.scDrift = d.drift, d.scDrift
			slow := same
			slow.extraMs = 5
			var alarms, detected int
			for b.Loop() {
				alarms, detected = 0, 0
				for i := 0; i < pairs; i++ {
					rng := rand.New(rand.NewPCG(uint64(i), 1))
					base := same.inputs(rng, "base", runs)
					aa, err := Compare(base, same.inputs(rng, "current", runs), DefaultThresholds())
					if err != nil {
						b.Fatal(err)
					}
					if aa.Outcome != OK {
						alarms++
					}
					ab, err := Compare(base, slow.inputs(rng, "current", runs), DefaultThresholds())
					if err != nil {
						b.Fatal(err)
					}
					if ab.Outcome == Regression {
						detected++
					}
				}
			}
			b.ReportMetric(100*float64(alarms)/pairs, "false-alarm-%")
			b.ReportMetric(100*float64(detected)/pairs, "detect-5ms-%")
		})
	}
}
