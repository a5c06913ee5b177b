package httpapi

import "time"

// burnCPU is the BENCH_EXTRA_CPU fault: n rounds of xorshift, pure CPU work with no memory
// traffic, in a function of its own so that it stands out in CPU profiles. It returns the
// state so that the compiler cannot drop the loop.
//
//go:noinline
func burnCPU(n int) uint64 {
	x := uint64(88172645463325252)
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// burnCalibration is the iteration count timed to size BENCH_EXTRA_CPU: large enough (~100 µs
// on a 2020s core) that the clock's resolution does not matter.
const burnCalibration = 200_000

// burnBatches and burnPause shape the calibration: the fastest of 40 batches spread over time,
// because back-to-back batches can all be slowed together by a busy sibling core at start-up and
// the fault would then add a fraction of the work it is named for (docs/design/server.md).
const (
	burnBatches = 40
	burnPause   = 500 * time.Microsecond
)

// burnItersFor returns how many burnCPU iterations take d on an idle core. It times batches
// and keeps the fastest: on a shared machine a slow batch was interrupted or shared its core,
// and the fault must add the same CPU work per request however busy the machine was at start.
func burnItersFor(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	fastest := time.Duration(1<<63 - 1)
	for range burnBatches {
		t0 := time.Now()
		burnCPU(burnCalibration)
		fastest = min(fastest, time.Since(t0))
		time.Sleep(burnPause)
	}
	fastest = max(fastest, time.Microsecond)
	return max(1, int(float64(burnCalibration)*float64(d)/float64(fastest)))
}
