package httpapi

import "testing"

// TestMemoryHoard: slow-leak keeps every chunk; sawtooth drops them all at the end of each
// cycle, so what it holds returns to nothing.
func TestMemoryHoard(t *testing.T) {
	tests := []struct {
		name     string
		faults   Faults
		requests int
		want     int // chunks held after them
	}{
		{"neither", Faults{}, 0, -1},
		{"slow-leak", Faults{SlowLeak: true}, 3 * sawtoothRequests, 3 * sawtoothRequests},
		{"trickle-leak", Faults{TrickleLeak: true}, 3 * sawtoothRequests, 3 * sawtoothRequests},
		{"sawtooth, mid-cycle", Faults{Sawtooth: true}, sawtoothRequests + 10, 10},
		{"sawtooth, at the end of a cycle", Faults{Sawtooth: true}, 2 * sawtoothRequests, 0},
		{"both: slow-leak wins", Faults{SlowLeak: true, Sawtooth: true}, sawtoothRequests, sawtoothRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHoard(tt.faults)
			if tt.want < 0 {
				if h != nil {
					t.Fatal("a hoard with no memory fault on")
				}
				return
			}
			for range tt.requests {
				h.keep()
			}
			if len(h.chunks) != tt.want {
				t.Errorf("%d chunks held after %d requests, want %d", len(h.chunks), tt.requests, tt.want)
			}
			for _, c := range h.chunks {
				if len(c) != h.chunk || c[1] != 1 {
					t.Fatalf("a chunk of %d bytes, want %d touched ones", len(c), h.chunk)
				}
			}
		})
	}
}
