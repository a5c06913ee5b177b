package attack

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// MergeOptions configure Merge.
type MergeOptions struct {
	Scenario   string  // name of the merged scenario
	TargetRate float64 // the combined target rate, when known (0: unknown)
	JaegerURL  string
	SlowestN   int // default 10
}

// Merge aggregates the results files of several attacker processes into one Outcome, reading
// them the way `vegeta report a.bin b.bin` does (round robin, one result from each in turn), so
// the count and the p99 match that command exactly.
//
// Each process had its own start and pacer, which the files do not record: the intended send
// times are unknown, so LatencyIntended and SendLateness stay zero, ScheduleUnknown is set and no
// validity check is made. Windows and rates are from the actual send times, over the span from
// the earliest to the latest send.
func Merge(paths []string, o MergeOptions) (Outcome, error) {
	if len(paths) == 0 {
		return Outcome{}, errors.New("merge: no results files")
	}
	if o.SlowestN == 0 {
		o.SlowestN = DefaultSlowestN
	}
	var first, last time.Time
	if err := decodeAll(paths, func(r *vegeta.Result) {
		if first.IsZero() || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		if r.Timestamp.After(last) {
			last = r.Timestamp
		}
	}); err != nil {
		return Outcome{}, err
	}
	agg := newAggregator(first, o.SlowestN, o.JaegerURL, 0)
	if err := decodeAll(paths, func(r *vegeta.Result) {
		agg.add(r, Classify(r), 0, windowIndex(r.Timestamp.Sub(first), false))
	}); err != nil {
		return Outcome{}, err
	}
	span := last.Sub(first)
	agg.finish(span)
	out := Outcome{
		Scenario:        o.Scenario,
		StartedAt:       first.UTC(),
		Duration:        span,
		TargetRate:      o.TargetRate,
		Scheduled:       -1,
		Requests:        agg.requests,
		Successes:       agg.successes,
		StatusCodes:     agg.codes,
		ErrorClasses:    agg.classes,
		Latency:         latencies(&agg.latency, agg.requests),
		Windows:         agg.done,
		Slowest:         agg.slowestSorted(),
		ScheduleUnknown: true,
	}
	if secs := span.Seconds(); secs > 0 {
		// vegeta's own definitions: sends over the send span.
		out.AchievedRate = float64(out.Requests) / secs
		out.Throughput = float64(out.Successes) / secs
	}
	return out, nil
}

// decodeAll feeds every result of the files to fn, round robin across files like vegeta's CLI.
func decodeAll(paths []string, fn func(*vegeta.Result)) error {
	decs := make([]vegeta.Decoder, 0, len(paths))
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		defer f.Close()
		br := bufio.NewReader(f)
		dec := vegeta.DecoderFor(br)
		if dec == nil {
			return fmt.Errorf("merge: %s: not a vegeta results file", p)
		}
		decs = append(decs, dec)
	}
	dec := vegeta.NewRoundRobinDecoder(decs...)
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("merge: decode results: %w", err)
		}
		fn(&r)
	}
}
