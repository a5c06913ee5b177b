package httpapi

import (
	"net/http"
	"sync"
	"time"
)

// The lock-contention and alloc-storm faults: a server slowed by its own lock or by its garbage
// collector, for the harness's diagnosis to tell apart from a slow CPU or a starved pool.
const (
	// lockHold is the CPU work done under the global mutex per request: 5 ms caps the server
	// at 200 requests/s on any number of cores while it uses at most one of them.
	lockHold = 5 * time.Millisecond
	// stormNodes short-lived nodes of pointers per request (≈5 MB): the GC runs many times a
	// second and marks them while the requests in flight still hold them.
	stormNodes = 150_000
)

// stormNode is one allocation of the alloc-storm: pointers only, so that the GC has every
// word to scan and not only to sweep.
type stormNode struct {
	next, prev, first, last *stormNode
}

// contention holds the state of the two faults: one mutex shared by every request.
type contention struct {
	mu        sync.Mutex
	holdIters int // burnCPU iterations under mu; 0: the lock fault is off
	storm     bool
}

func newContention(f Faults) *contention {
	c := &contention{storm: f.AllocStorm}
	if f.LockContention {
		c.holdIters = burnItersFor(lockHold)
	}
	return c
}

func (c *contention) on() bool { return c.holdIters > 0 || c.storm }

// inject applies the faults to every request that passes through it.
func (c *contention) inject(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.holdIters > 0 {
			c.mu.Lock()
			x := burnCPU(c.holdIters)
			c.mu.Unlock()
			if x == 0 { // never: keeps the loop
				w.Header().Set("X-Bench-Burn", "0")
			}
		}
		if c.storm && allocStorm(stormNodes) == nil {
			w.Header().Set("X-Bench-Storm", "0") // never: keeps the list alive until here
		}
		next.ServeHTTP(w, r)
	})
}

// allocStorm builds a linked list of n nodes and returns its head: garbage once the request
// ends. noinline keeps it apart in CPU profiles.
//
//go:noinline
func allocStorm(n int) *stormNode {
	first := &stormNode{}
	head := first
	for range n {
		head = &stormNode{next: head, first: first}
		head.next.prev = head
	}
	return head
}
