package attack

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// MaxMergeSpan bounds the time from the first to the last send of the results Merge reads:
// longer than any one attack, short enough that its one-second windows (in memory, then in
// summary.json and the report's charts) stay a few megabytes.
const MaxMergeSpan = 24 * time.Hour

// MergeOptions configure Merge.
type MergeOptions struct {
	Scenario   string  // name of the merged scenario
	TargetRate float64 // the combined target rate, when known (0: unknown)
	JaegerURL  string
	SlowestN   int // default 10
}

// Merge aggregates the results files of several attacker processes into one Figures, reading
// them the way `vegeta report a.bin b.bin` does (round robin, one result from each in turn), so
// the count and the p99 match that command exactly.
//
// Each process had its own start and pacer, which the files do not record: the intended send
// times are unknown, so LatencyIntended and SendLateness stay zero, ScheduleUnknown is set and no
// validity check is made. Windows and rates are from the actual send times, over the span from
// the earliest to the latest send.
func Merge(paths []string, o MergeOptions) (Figures, error) {
	if len(paths) == 0 {
		return Figures{}, errors.New("merge: no results files")
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
		return Figures{}, err
	}
	// One window per second of the span: a timestamp from another year (a corrupt or forged
	// file) would have it allocate billions.
	if span := last.Sub(first); span > MaxMergeSpan {
		return Figures{}, fmt.Errorf("merge: the results span %s, from %s to %s, longer than the %s a run can last: a timestamp is wrong",
			span.Round(time.Second), first.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339), MaxMergeSpan)
	}
	agg := newAggregator(first, o.SlowestN, o.JaegerURL, 0)
	if err := decodeAll(paths, func(r *vegeta.Result) {
		agg.Add(&Hit{Result: r, Class: Classify(r), Counted: true, window: windowIndex(r.Timestamp.Sub(first), false)})
	}); err != nil {
		return Figures{}, err
	}
	// vegeta's own definitions: sends over the send span.
	f := agg.figures(o.Scenario, 0, last.Sub(first))
	f.TargetRate = o.TargetRate
	f.ScheduleUnknown = true
	// Each process had its own schedule: intended times are unknown, not zero lateness.
	f.LatencyIntended, f.SendLateness = summary.Latencies{}, summary.Latencies{}
	return f, nil
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
