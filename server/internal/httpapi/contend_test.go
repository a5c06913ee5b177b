package httpapi

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

// TestLockContentionSerialises: requests through the lock-contention fault take their turns, so
// n concurrent ones last at least n holds; with the fault off they do not wait at all.
func TestLockContentionSerialises(t *testing.T) {
	for _, tt := range []struct {
		name    string
		faults  Faults
		atLeast time.Duration
	}{
		{"on", Faults{LockContention: true}, 4 * lockHold * 9 / 10},
		{"off", Faults{}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newContention(tt.faults)
			h := c.inject(okHandler)
			if !c.on() != (tt.atLeast == 0) {
				t.Fatalf("on() = %v for %+v", c.on(), tt.faults)
			}
			start := time.Now()
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil)) })
			}
			wg.Wait()
			if took := time.Since(start); took < tt.atLeast || (tt.atLeast == 0 && took >= 4*lockHold*9/10) {
				t.Fatalf("4 concurrent requests took %s, want at least %s (and less when off)", took, tt.atLeast)
			}
		})
	}
}

// TestAllocStormAllocates: every request through the fault allocates its nodes.
func TestAllocStormAllocates(t *testing.T) {
	h := newContention(Faults{AllocStorm: true}).inject(okHandler)
	allocs := testing.AllocsPerRun(3, func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	})
	if allocs < stormNodes {
		t.Fatalf("%.0f allocations per request, want at least %d", allocs, stormNodes)
	}
}
