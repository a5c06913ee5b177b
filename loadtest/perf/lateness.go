package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// resultsLateness reads a vegeta results file of an attack paced at rate hits per second and
// returns its send-lateness p99 in ms. Hit seq is due at (seq+1)·interval after the attack
// began (vegeta's ConstantPacer, as attack.IntendedOffset has it); the file does not record when
// the attack began, so each hit's offset is its timestamp minus its due time, and lateness is
// that offset minus the smallest one: the earliest hit counts as on time. The same rule serves
// the harness's file and the vegeta CLI's, so the two are compared on equal terms.
func resultsLateness(path string, rate float64) (float64, error) {
	if rate < 1 {
		return math.NaN(), fmt.Errorf("lateness of %s: rate %v is not a fixed rate", path, rate)
	}
	f, err := os.Open(path)
	if err != nil {
		return math.NaN(), fmt.Errorf("lateness: %w", err)
	}
	defer f.Close()
	interval := int64(time.Second) / int64(rate) // vegeta.ConstantPacer's integer interval
	dec := vegeta.NewDecoder(bufio.NewReader(f))
	var offsets []int64 // ns; int64 because a float64 of UnixNano loses the microseconds
	earliest := int64(math.MaxInt64)
	for {
		var res vegeta.Result
		if err := dec.Decode(&res); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return math.NaN(), fmt.Errorf("lateness: decode %s: %w", path, err)
		}
		off := res.Timestamp.UnixNano() - int64(res.Seq+1)*interval
		offsets = append(offsets, off)
		earliest = min(earliest, off)
	}
	if len(offsets) == 0 {
		return math.NaN(), fmt.Errorf("lateness: %s holds no results", path)
	}
	late := make([]float64, len(offsets))
	for i, off := range offsets {
		late[i] = float64(off-earliest) / float64(time.Millisecond)
	}
	return quantile(late, 0.99), nil
}
