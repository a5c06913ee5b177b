package main

import (
	"runtime"
	"testing"
)

// TestEnvironmentGOMAXPROCS: a run records the harness's GOMAXPROCS, or the server's when
// -server-env sets one (the server inherits the harness's otherwise); a bad value is ignored.
func TestEnvironmentGOMAXPROCS(t *testing.T) {
	tests := []struct {
		env  envList
		want int
	}{
		{nil, runtime.GOMAXPROCS(0)},
		{envList{"BENCH_FAULTS=x", "GOMAXPROCS=1"}, 1},
		{envList{"GOMAXPROCS=zero"}, runtime.GOMAXPROCS(0)},
	}
	for _, tt := range tests {
		if got := environment(runOptions{serverEnv: tt.env}).GOMAXPROCS; got != tt.want {
			t.Errorf("-server-env %q: GOMAXPROCS %d, want %d", tt.env, got, tt.want)
		}
	}
}
