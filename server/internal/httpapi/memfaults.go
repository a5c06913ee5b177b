package httpapi

import (
	"net/http"
	"sync"
)

// The memory faults of the soak scenario (BENCH_FAULTS=slow-leak, trickle-leak, sawtooth): each
// API request keeps a chunk. slow-leak and trickle-leak never let go of theirs; sawtooth drops
// everything it holds every sawtoothRequests requests, so the live heap climbs to a peak of
// sawtoothRequests × memoryFaultChunk (1 MiB) and falls back to its floor: healthy memory that
// is not flat, which a soak must not call a leak. trickle-leak's chunk is small enough that no
// single short run shows it (32 KiB over 500 requests) and a long soak must.
const (
	memoryFaultChunk = 4 << 10 // bytes kept per request: slow-leak, sawtooth
	trickleChunk     = 64      // bytes kept per request: trickle-leak, ~30 MiB/h at 100 req/s with its slice entry
	sawtoothRequests = 256     // requests per sawtooth cycle: 2.6 s at 100 requests/s
)

// memoryHoard is the memory the faults keep; one per handler (no globals).
type memoryHoard struct {
	mu     sync.Mutex
	chunks [][]byte
	chunk  int // bytes per request
	cycle  int // 0: never drop (the leaks); else drop everything at this many chunks
}

// keep holds one more chunk, and for the sawtooth drops them all once a cycle is complete.
func (m *memoryHoard) keep() {
	b := make([]byte, m.chunk)
	for i := range b { // touched, so the pages are resident: RSS sees the leak, not only the heap
		b[i] = byte(i)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chunks = append(m.chunks, b)
	if m.cycle > 0 && len(m.chunks) >= m.cycle {
		m.chunks = nil
	}
}

// hoardMemory is the middleware of the memory faults.
func (m *memoryHoard) hoardMemory(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.keep()
		next.ServeHTTP(w, r)
	})
}

// newHoard returns the hoard of f's memory fault, nil when neither is on.
func newHoard(f Faults) *memoryHoard {
	switch {
	case f.SlowLeak:
		return &memoryHoard{chunk: memoryFaultChunk}
	case f.TrickleLeak:
		return &memoryHoard{chunk: trickleChunk}
	case f.Sawtooth:
		return &memoryHoard{chunk: memoryFaultChunk, cycle: sawtoothRequests}
	}
	return nil
}
