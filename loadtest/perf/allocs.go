package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// AllocBench is one benchmark of the API routes: median bytes and allocations per request
// over its -count runs (the raw file stays beside perf.json for benchstat).
type AllocBench struct {
	Name        string  `json:"name"`
	Runs        int     `json:"runs"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}

// parseBenchmem reads `go test -bench -benchmem` output and returns one AllocBench per
// benchmark name, in first-seen order.
func parseBenchmem(r io.Reader) ([]AllocBench, error) {
	type acc struct{ bytes, allocs []float64 }
	var order []string
	seen := map[string]*acc{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		a := seen[f[0]]
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("parse benchmark line %q: %w", sc.Text(), err)
			}
			if a == nil {
				a = &acc{}
				seen[f[0]] = a
				order = append(order, f[0])
			}
			switch f[i+1] {
			case "B/op":
				a.bytes = append(a.bytes, v)
			case "allocs/op":
				a.allocs = append(a.allocs, v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read benchmarks: %w", err)
	}
	var out []AllocBench
	for _, name := range order {
		a := seen[name]
		if len(a.allocs) == 0 {
			continue
		}
		out = append(out, AllocBench{Name: name, Runs: len(a.allocs), BytesPerOp: median(a.bytes), AllocsPerOp: median(a.allocs)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no -benchmem results (B/op, allocs/op) in the benchmark output")
	}
	return out, nil
}

// addAllocs records the allocation benchmarks' medians in the results.
func (r *runner) addAllocs(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("allocs: %w", err)
	}
	defer f.Close()
	bs, err := parseBenchmem(f)
	if err != nil {
		return fmt.Errorf("allocs %s: %w", path, err)
	}
	r.res.Allocs = bs
	r.res.AllocsFile = path
	return nil
}
