package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestResultsLateness(t *testing.T) {
	const rate = 1000 // 1 ms apart
	began := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		late func(seq int) time.Duration // how late hit seq is sent
		want float64                     // p99 in ms
	}{
		{"on time", func(int) time.Duration { return 0 }, 0},
		{"all 5 ms late: the earliest counts as on time", func(int) time.Duration { return 5 * time.Millisecond }, 0},
		{"2 in 100 late by 3 ms", func(seq int) time.Duration {
			if seq%50 == 7 {
				return 3 * time.Millisecond
			}
			return 0
		}, 3},
		{"1 in 100 late: p99 is the 99th of 100", func(seq int) time.Duration {
			if seq%100 == 7 {
				return 3 * time.Millisecond
			}
			return 0
		}, 0},
		{"sent out of order", func(seq int) time.Duration { return time.Duration(seq%4) * 250 * time.Microsecond }, 0.75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.bin")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			enc := vegeta.NewEncoder(f)
			for seq := range 1000 {
				due := began.Add(time.Duration(seq+1) * time.Millisecond)
				if err := enc.Encode(&vegeta.Result{Seq: uint64(seq), Timestamp: due.Add(tt.late(seq)), Code: 200}); err != nil {
					t.Fatal(err)
				}
			}
			f.Close()
			got, err := resultsLateness(path, rate)
			if err != nil || math.Abs(got-tt.want) > 1e-9 {
				t.Fatalf("resultsLateness = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := resultsLateness(filepath.Join(t.TempDir(), "none.bin"), rate); err == nil {
		t.Error("a missing file gave no error")
	}
	if _, err := resultsLateness("x", 0); err == nil {
		t.Error("rate 0 gave no error")
	}
}
