package contention

import (
	"context"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/machine"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Role is whose threads a process holds.
type Role int

// The benchmark's roles.
const (
	Server   Role = iota // the server under test
	Database             // its PostgreSQL backends and the harness's
	Harness              // this harness and its local workers
	roles
)

// Procs are the benchmark's processes: by role the ones on a request's path, and OffPath the
// ones off it (the harness's own PostgreSQL backends, which run its sampling queries): their CPU
// is the benchmark's, their waits are not a request's.
type Procs struct {
	Path    [roles][]int
	OffPath []int
}

func (p Procs) has(pid int) bool {
	for _, pids := range p.Path {
		if slices.Contains(pids, pid) {
			return true
		}
	}
	return slices.Contains(p.OffPath, pid)
}

// Histogram is a cumulative latency histogram (Prometheus buckets): Counts[i] observations ≤
// Bounds[i] seconds.
type Histogram struct {
	Bounds []float64
	Counts []uint64
}

// schedEvery is how often the server's scheduling histogram is read.
const schedEvery = time.Second

// Point is what the benchmark's threads did between two readings, ending at OffsetMs.
type Point struct {
	OffsetMs float64
	SpanMs   float64
	// Wait and Run are, per role, the run-queue delay and the CPU time accrued in the span by
	// the threads that ran in it (a thread first seen in the span counts from the next one).
	Wait   [roles]time.Duration
	Run    [roles]time.Duration
	Slices [roles]uint64 // times those threads were given a CPU
	// Worst is, per role, the highest mean delay per run of one of its threads that ran in the
	// span (ms): at least one run of that thread waited that long, where the role's mean, over
	// fifty short waits of its other threads, would not show it.
	Worst [roles]float64
	// OffPathRun is the CPU time the processes off a request's path ran in the span.
	OffPathRun time.Duration
	// Busy is the CPU time the whole machine spent busy in the span (0: not read); what our
	// threads did not run of it, others did.
	Busy time.Duration
	// Niced is the CPU time the low-priority peers (NicedGap) ran in the span: a part of what
	// others ran that the neighbour rule leaves out.
	Niced time.Duration
	CPUs  int
	// Sched is the server's Go scheduling-latency histogram accrued since the previous point
	// that has one (nil: not read in this span).
	Sched       *Histogram
	SchedFromMs float64 // where Sched's span begins
}

// Monitor reads the threads of the benchmark's processes every interval. The zero value is not
// usable; call NewMonitor.
type Monitor struct {
	procs    func(context.Context) (Procs, bool)
	sched    func(context.Context) (Histogram, error) // nil: the server exports none
	interval time.Duration

	mu     sync.Mutex
	points []Point
	prev   map[int]machine.ThreadTime // by thread id: ids are unique across processes
	hist   *Histogram
	histAt time.Duration
	busy   time.Duration
	last   time.Duration
	// peers are the processes at least NicedGap nice levels below this harness in its
	// scheduling group when the monitor started (machine.LowPriorityPeers).
	peers []int
}

// NicedGap is how many nice levels below the benchmark a process must run for the neighbour
// rule to leave it out: the scheduler weighs nice 10 at 110 and nice 19 at 15 against nice 0's
// 1024, and a waking thread of ours preempts it, so it gets a CPU when ours do not want one.
const NicedGap = 10

// NewMonitor returns a monitor of the processes procs names (asked at every reading: a
// database backend may come or go) and of the server's scheduling latency (sched may be nil).
// interval ≤ 0 means 250 ms: windows are one second, and a reading's span is split between the
// windows it overlaps.
func NewMonitor(procs func(context.Context) (Procs, bool), sched func(context.Context) (Histogram, error), interval time.Duration) *Monitor {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	return &Monitor{procs: procs, sched: sched, interval: interval, peers: machine.LowPriorityPeers(os.Getpid(), NicedGap)}
}

// Run reads every interval from now until ctx is done, offsets from start.
func (m *Monitor) Run(ctx context.Context, start time.Time) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.read(ctx, time.Since(start))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Points returns a copy of the points read so far, oldest first.
func (m *Monitor) Points() []Point {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Point(nil), m.points...)
}

func (m *Monitor) read(ctx context.Context, off time.Duration) {
	procs, ok := m.procs(ctx)
	if !ok || ctx.Err() != nil {
		return
	}
	var h *Histogram
	// The histogram comes with a whole /metrics scrape: once per window is enough.
	if m.sched != nil && (m.hist == nil || off-m.histAt >= schedEvery) {
		if got, err := m.sched(ctx); err == nil {
			h = &got
		}
	}
	busy, cpus, busyErr := machine.Busy()
	now := make(map[int]machine.ThreadTime)
	p := Point{CPUs: cpus}
	// ran is what a thread did since the last reading; false when it is new (its past is not
	// this span's) or did not run.
	ran := func(pid int, each func(run, wait time.Duration, slices uint64)) {
		threads, ok := machine.Threads(pid)
		if !ok {
			return
		}
		for tid, tt := range threads {
			now[tid] = tt
			before, seen := m.prev[tid]
			if !seen || tt.Run <= before.Run {
				continue
			}
			each(tt.Run-before.Run, max(tt.Wait-before.Wait, 0), tt.Slices-min(before.Slices, tt.Slices))
		}
	}
	for role, pids := range procs.Path {
		for _, pid := range pids {
			ran(pid, func(run, wait time.Duration, slices uint64) {
				p.Run[role] += run
				p.Wait[role] += wait
				p.Slices[role] += slices
				if slices > 0 {
					p.Worst[role] = max(p.Worst[role], ms(wait)/float64(slices))
				}
			})
		}
	}
	for _, pid := range procs.OffPath {
		ran(pid, func(run, _ time.Duration, _ uint64) { p.OffPathRun += run })
	}
	for _, pid := range m.peers {
		if !procs.has(pid) { // a niced server of ours is the benchmark's, not a peer
			ran(pid, func(run, _ time.Duration, _ uint64) { p.Niced += run })
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	first := m.prev == nil
	m.prev = now
	if h != nil && m.hist != nil {
		p.Sched, p.SchedFromMs = h.sub(*m.hist), ms(m.histAt)
	}
	if h != nil {
		m.hist, m.histAt = h, off
	}
	if busyErr == nil && m.busy > 0 {
		p.Busy = max(busy-m.busy, 0)
	}
	if busyErr == nil {
		m.busy = busy
	}
	if first {
		m.last = off
		return
	}
	p.OffsetMs, p.SpanMs = ms(off), ms(off-m.last)
	m.last = off
	m.points = append(m.points, p)
}

// sub is h − o bucket by bucket; nil when the buckets differ (a restarted server).
func (h Histogram) sub(o Histogram) *Histogram {
	if len(h.Bounds) != len(o.Bounds) || len(h.Counts) != len(o.Counts) {
		return nil
	}
	d := Histogram{Bounds: h.Bounds, Counts: make([]uint64, len(h.Counts))}
	for i := range h.Counts {
		if h.Bounds[i] != o.Bounds[i] || h.Counts[i] < o.Counts[i] {
			return nil
		}
		d.Counts[i] = h.Counts[i] - o.Counts[i]
	}
	return &d
}

// add adds o's counts to h (same buckets); it returns h.
func (h *Histogram) add(o *Histogram) *Histogram {
	if o == nil {
		return h
	}
	if h == nil {
		c := Histogram{Bounds: o.Bounds, Counts: append([]uint64(nil), o.Counts...)}
		return &c
	}
	if len(h.Counts) == len(o.Counts) {
		for i := range h.Counts {
			h.Counts[i] += o.Counts[i]
		}
	}
	return h
}

// Quantile is the upper bound of the bucket that holds quantile q, in ms: the figure errs high
// by at most a bucket's width. 0 when the histogram is empty; the largest finite bound when q
// falls in the +Inf bucket.
func (h *Histogram) Quantile(q float64) float64 {
	if h == nil || len(h.Counts) == 0 || h.Counts[len(h.Counts)-1] == 0 {
		return 0
	}
	total := h.Counts[len(h.Counts)-1]
	rank := uint64(q*float64(total) + 0.5)
	rank = max(rank, 1)
	last := 0.0
	for i, c := range h.Counts {
		if c >= rank {
			if b := h.Bounds[i]; b < 1e300 {
				return b * 1000
			}
			return last * 1000
		}
		if b := h.Bounds[i]; b < 1e300 {
			last = b
		}
	}
	return last * 1000
}

// summary is h in milliseconds without its +Inf bucket (JSON has no +Inf); nil when empty.
func (h *Histogram) summary() *summary.SchedHistogram {
	if h == nil || len(h.Counts) == 0 || h.Counts[len(h.Counts)-1] == 0 {
		return nil
	}
	s := summary.SchedHistogram{Total: h.Counts[len(h.Counts)-1]}
	for i, b := range h.Bounds {
		if b < 1e300 {
			s.BoundsMs = append(s.BoundsMs, b*1000)
			s.Counts = append(s.Counts, h.Counts[i])
		}
	}
	return &s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
