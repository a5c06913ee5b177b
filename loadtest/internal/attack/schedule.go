package attack

import (
	"math"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// IntendedOffset returns when hit seq (vegeta's Result.Seq, 0-based) was due, as an offset from
// the attack's start, for the pacers whose schedule can be inverted: vegeta.ConstantPacer and
// vegeta.LinearPacer (values or pointers), and a ShardPacer of either (its hit seq is the
// schedule's hit Shard.Global(seq)). ok is false for any other pacer; the engine then treats
// every send as on time and says so in its lateness check.
//
// The formulas follow vegeta's pacer.go (v12.13): a ConstantPacer waits (hits+1)·interval −
// elapsed, so hit n is due at (n+1)·interval with interval = Per/Freq in whole nanoseconds; a
// LinearPacer sends its first hit at once and hit n ≥ 1 when its expected hit count
// slope·t²/2 + start·t reaches n+1.
func IntendedOffset(p vegeta.Pacer, seq uint64) (time.Duration, bool) {
	switch p := p.(type) {
	case vegeta.ConstantPacer:
		return constantOffset(p, seq)
	case *vegeta.ConstantPacer:
		return constantOffset(*p, seq)
	case vegeta.LinearPacer:
		return linearOffset(p, seq)
	case *vegeta.LinearPacer:
		return linearOffset(*p, seq)
	case ShardPacer:
		return IntendedOffset(p.Pacer, p.Shard.Global(seq))
	default:
		return 0, false
	}
}

func constantOffset(p vegeta.ConstantPacer, seq uint64) (time.Duration, bool) {
	if p.Freq <= 0 || p.Per <= 0 {
		return 0, false // infinite or no rate: nothing is ever late
	}
	interval := p.Per.Nanoseconds() / int64(p.Freq)
	if interval == 0 {
		return 0, false
	}
	return time.Duration(int64(seq+1) * interval), true
}

func linearOffset(p vegeta.LinearPacer, seq uint64) (time.Duration, bool) {
	if p.StartAt.Freq <= 0 || p.StartAt.Per <= 0 {
		return 0, false
	}
	if seq == 0 {
		return 0, true
	}
	a := p.Slope
	b := float64(p.StartAt.Freq) / p.StartAt.Per.Seconds()
	h := float64(seq + 1)
	disc := b*b + 2*a*h
	if disc < 0 {
		// A falling rate that reaches zero before hit seq is due: it never is.
		return time.Duration(math.MaxInt64), true
	}
	// The root of a/2·x² + b·x = h written to avoid cancellation when a is small (and valid
	// for a = 0, where it is h/b).
	x := 2 * h / (b + math.Sqrt(disc))
	return time.Duration(x * 1e9), true
}

// scheduled counts the hits whose intended offset falls in the counting window (lo, hi], or
// [lo, hi] when lo is 0, by binary search over the monotonic schedule. ok is false for a pacer
// without a schedule.
func scheduled(p vegeta.Pacer, lo, hi time.Duration) (int64, bool) {
	if _, ok := IntendedOffset(p, 0); !ok {
		return 0, false
	}
	// first returns the smallest seq whose offset satisfies pred (monotonic false→true).
	first := func(pred func(time.Duration) bool) uint64 {
		var l, r uint64 = 0, 1
		for {
			off, _ := IntendedOffset(p, r)
			if pred(off) || r >= 1<<40 {
				break
			}
			l, r = r, r*2
		}
		for l < r {
			m := l + (r-l)/2
			if off, _ := IntendedOffset(p, m); pred(off) {
				r = m
			} else {
				l = m + 1
			}
		}
		return l
	}
	start := first(func(o time.Duration) bool { return inWindow(o, lo, hi) || o > hi })
	end := first(func(o time.Duration) bool { return o > hi })
	if end < start {
		return 0, true
	}
	return int64(end - start), true
}

// inWindow reports whether an intended offset is counted: (lo, hi], or [0, hi] without warm-up
// so that a LinearPacer's first hit (due at 0) counts.
func inWindow(off, lo, hi time.Duration) bool {
	if off > hi {
		return false
	}
	if lo == 0 {
		return off >= 0
	}
	return off > lo
}
