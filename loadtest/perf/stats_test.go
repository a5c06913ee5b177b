package main

import (
	"encoding/json"
	"math"
	"testing"
)

func TestTargetMet(t *testing.T) {
	tests := []struct {
		target Target
		v      float64
		want   bool
	}{
		{Target{">=", 0.7}, 0.7, true},
		{Target{">=", 0.7}, 0.69, false},
		{Target{"<=", 100}, 100, true},
		{Target{"<=", 100}, 100.1, false},
		{Target{"within", 0.01}, 0.991, true},
		{Target{"within", 0.01}, 1.011, false},
		{Target{"?", 1}, 1, false},
	}
	for _, tt := range tests {
		if got := tt.target.Met(tt.v); got != tt.want {
			t.Errorf("%v.Met(%v) = %v, want %v", tt.target, tt.v, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name             string
		values           []float64
		wantMed, wantMin float64
		wantMax          float64
		wantRounds       int
		wantPass         bool
		wantProduced     bool
		wantFailed       int
	}{
		{name: "odd", values: []float64{0.8, 0.6, 0.75}, wantMed: 0.75, wantMin: 0.6, wantMax: 0.8, wantRounds: 3, wantPass: true, wantProduced: true},
		{name: "even, NaN skipped", values: []float64{0.5, math.NaN(), 1, 0.75, 0.75}, wantMed: 0.75, wantMin: 0.5, wantMax: 1, wantRounds: 4, wantPass: true, wantProduced: true, wantFailed: 1},
		// More than one round in five failed: the median of the rest is not trusted.
		{name: "2 of 5 rounds failed", values: []float64{0.8, math.NaN(), 0.9, math.NaN(), 1}, wantMed: 0.9, wantMin: 0.8, wantMax: 1, wantRounds: 3, wantProduced: true, wantFailed: 2},
		{name: "1 of 2 rounds failed", values: []float64{0.8, math.NaN()}, wantMed: 0.8, wantMin: 0.8, wantMax: 0.8, wantRounds: 1, wantProduced: true, wantFailed: 1},
		{name: "median below target", values: []float64{0.5, 0.6, 0.9}, wantMed: 0.6, wantMin: 0.5, wantMax: 0.9, wantRounds: 3, wantProduced: true},
		{name: "nothing measured", values: []float64{math.NaN(), math.Inf(1)}, wantFailed: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Figure{Target: Target{">=", 0.7}}
			for _, v := range tt.values {
				f.Add(Sample{Value: v})
			}
			f.Summarize()
			if f.Median != tt.wantMed || f.Min != tt.wantMin || f.Max != tt.wantMax || f.Rounds != tt.wantRounds ||
				f.Pass != tt.wantPass || f.Produced != tt.wantProduced || f.Failed != tt.wantFailed {
				t.Errorf("got median %v min %v max %v rounds %d pass %v produced %v failed %d", f.Median, f.Min, f.Max, f.Rounds, f.Pass, f.Produced, f.Failed)
			}
		})
	}
}

func TestSampleJSONCarriesNaNAsNull(t *testing.T) {
	b, err := json.Marshal(Sample{A: 1, B: math.NaN(), Value: math.Inf(1)})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"a":1,"b":null,"value":null}` {
		t.Errorf("marshal = %s", b)
	}
	var s Sample
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.A != 1 || !math.IsNaN(s.B) || !math.IsNaN(s.Value) {
		t.Errorf("unmarshal = %+v", s)
	}
}

func TestQuantileNearestRank(t *testing.T) {
	vs := make([]float64, 50)
	for i := range vs {
		vs[i] = float64(i + 1)
	}
	if got := quantile(vs, 0.99); got != 50 {
		t.Errorf("p99 of 1..50 = %v, want 50", got)
	}
	if got := quantile(vs, 0.5); got != 25 {
		t.Errorf("p50 of 1..50 = %v, want 25", got)
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("quantile of nothing: want NaN")
	}
}

func TestWithPoolSize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u@127.0.0.1:5432/items?sslmode=disable", "postgres://u@127.0.0.1:5432/items?sslmode=disable&pool_max_conns=8"},
		{"postgres://u@127.0.0.1:5432/items?pool_max_conns=50&sslmode=disable", "postgres://u@127.0.0.1:5432/items?sslmode=disable&pool_max_conns=8"},
		{"postgres://u@127.0.0.1:5432/items", "postgres://u@127.0.0.1:5432/items?pool_max_conns=8"},
	}
	for _, tt := range tests {
		got, err := withPoolSize(tt.in, 8)
		if err != nil || got != tt.want {
			t.Errorf("withPoolSize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := withPoolSize("host=127.0.0.1 dbname=items", 8); err == nil {
		t.Error("keyword/value DSN: want an error")
	}
}

func TestParseBenchmem(t *testing.T) {
	const out = `goos: linux
BenchmarkListItems-2   	    1000	    250000 ns/op	   16000 B/op	     170 allocs/op
BenchmarkListItems-2   	    1000	    260000 ns/op	   16100 B/op	     172 allocs/op
BenchmarkListItems-2   	    1000	    240000 ns/op	   15900 B/op	     171 allocs/op
BenchmarkCreateItem-2  	    1000	    900000 ns/op	    9000 B/op	      90 allocs/op
PASS
`
	got, err := parseBenchmem(stringsReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []AllocBench{{"BenchmarkListItems-2", 3, 16000, 171}, {"BenchmarkCreateItem-2", 1, 9000, 90}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseBenchmem(stringsReader("BenchmarkX-2 10 5 ns/op\n")); err == nil {
		t.Error("no -benchmem columns: want an error")
	}
}
