package attack

import (
	"container/heap"
	"sort"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// aggregator folds counted hits into the client-side figures with bounded memory: t-digests
// (vegeta.LatencyMetrics) for the distributions, counters for codes and classes, open windows
// only while a result can still land in them, and a heap for the slowest requests. It is the
// one reader of its digests, once, in figures: a t-digest's Quantile compresses it, so a live
// view that queried it would change the final percentiles.
type aggregator struct {
	start     time.Time // the counting window's start: window indexes count from here
	origin    time.Time // what the reported offsets (Window.StartMs, Request.OffsetMs) count from
	jaeger    string
	slowestN  int
	keepOpen  time.Duration // a window is final once results sent in it can no longer arrive
	requests  int64
	successes int64
	warmups   int64
	codes     map[string]int64
	classes   map[string]int64

	latency  vegeta.LatencyMetrics // same t-digest, same order as `vegeta report` on the .bin
	intended vegeta.LatencyMetrics
	lateness vegeta.LatencyMetrics
	hasSched bool

	open    map[int]*window
	done    []summary.Window
	next    int // the index of the next window to finalise
	lastIdx int // highest window index seen
	slowest slowHeap
}

type window struct {
	requests, errors, successes int64
	lat                         vegeta.LatencyMetrics
}

func newAggregator(start time.Time, slowestN int, jaegerURL string, keepOpen time.Duration) *aggregator {
	return &aggregator{
		start:    start,
		origin:   start,
		jaeger:   strings.TrimRight(jaegerURL, "/"),
		slowestN: slowestN,
		keepOpen: keepOpen,
		codes:    map[string]int64{},
		classes:  map[string]int64{},
		open:     map[int]*window{},
		lastIdx:  -1,
	}
}

var _ Ticker = (*aggregator)(nil)

// Add folds in one hit: a counted one into the figures, a warm-up one into the warm-up count.
func (a *aggregator) Add(h *Hit) {
	if !h.Counted {
		a.warmups++
		return
	}
	r, class, lateness, idx := h.Result, h.Class, h.Late, h.window
	a.requests++
	a.codes[strconv.Itoa(int(r.Code))]++
	ok := class == ""
	if ok {
		a.successes++
	} else {
		a.classes[class]++
	}
	a.latency.Add(r.Latency)
	a.intended.Add(r.Latency + lateness)
	a.lateness.Add(lateness)

	if idx >= a.next { // a straggler for a finalised window is counted overall but not re-opened
		w := a.open[idx]
		if w == nil {
			w = &window{}
			a.open[idx] = w
		}
		w.requests++
		if ok {
			w.successes++
		} else {
			w.errors++
		}
		w.lat.Add(r.Latency)
		if idx > a.lastIdx {
			a.lastIdx = idx
		}
	}

	if a.slowestN > 0 {
		if len(a.slowest) < a.slowestN {
			heap.Push(&a.slowest, a.describe(r, class))
		} else if r.Latency > time.Duration(a.slowest[0].LatencyMs*float64(time.Millisecond)) {
			a.slowest[0] = a.describe(r, class)
			heap.Fix(&a.slowest, 0)
		}
	}
}

// windowIndex returns the one-second window of a hit whose send time (intended when the
// schedule is known, actual otherwise) is off from the counting start. Windows are (k, k+1] s
// when scheduled, so that the last scheduled hit (due exactly at the window's end) belongs to
// the last window instead of opening a lonely extra one; [k, k+1) s for actual times.
func windowIndex(off time.Duration, scheduled bool) int {
	if off <= 0 {
		return 0
	}
	if scheduled {
		return int((off - 1) / time.Second)
	}
	return int(off / time.Second)
}

func (a *aggregator) describe(r *vegeta.Result, class string) summary.Request {
	return Describe(r, class, a.origin, a.jaeger)
}

// Tick finalises every window that ended more than keepOpen before now: a result sent in it
// has arrived or timed out by then.
func (a *aggregator) Tick(now time.Time) {
	limit := int(now.Sub(a.start.Add(a.keepOpen)) / time.Second) // windows < limit are final
	for a.next < limit && a.next <= a.lastIdx {
		a.finalise(a.next, time.Second)
	}
}

// finish finalises every remaining window; total is the counted span, so a last partial
// window's rate is per its real length.
func (a *aggregator) finish(total time.Duration) {
	// Cover the whole span, even seconds in which nothing was sent (a stalled generator or a
	// dead server must show as a gap, not as a shorter run).
	if n := int((total + time.Second - 1) / time.Second); n-1 > a.lastIdx {
		a.lastIdx = n - 1
	}
	for a.next <= a.lastIdx {
		length := time.Second
		if rest := total - time.Duration(a.next)*time.Second; rest > 0 && rest < time.Second {
			length = rest
		}
		a.finalise(a.next, length)
	}
}

func (a *aggregator) finalise(idx int, length time.Duration) {
	w := a.open[idx]
	delete(a.open, idx)
	a.next = idx + 1
	sw := summary.Window{StartMs: summary.Ms(a.start.Sub(a.origin)) + float64(idx)*1000}
	if w != nil {
		secs := length.Seconds()
		sw.Requests, sw.Errors = w.requests, w.errors
		sw.Rate = float64(w.requests) / secs
		sw.Throughput = float64(w.successes) / secs
		sw.P50 = summary.Ms(w.lat.Quantile(0.5))
		sw.P99 = summary.Ms(w.lat.Quantile(0.99))
		sw.Max = summary.Ms(w.lat.Max)
	}
	a.done = append(a.done, sw)
}

// figures finalises the windows of a counted span and returns what was measured: the
// client-side figures of summary.Scenario. The caller adds what only it knows (the schedule,
// validity checks).
func (a *aggregator) figures(scenario string, warmup, counted time.Duration) Figures {
	a.finish(counted)
	f := Figures{
		Scenario:        scenario,
		StartedAt:       a.start.UTC(),
		Duration:        counted,
		Warmup:          warmup,
		Requests:        a.requests,
		Successes:       a.successes,
		Warmups:         a.warmups,
		StatusCodes:     a.codes,
		ErrorClasses:    a.classes,
		Latency:         latencies(&a.latency, a.requests),
		LatencyIntended: latencies(&a.intended, a.requests),
		SendLateness:    latencies(&a.lateness, a.requests),
		Windows:         a.done,
		Slowest:         a.slowestSorted(),
		Scheduled:       -1,
	}
	if secs := counted.Seconds(); secs > 0 {
		f.AchievedRate = float64(f.Requests) / secs
		f.Throughput = float64(f.Successes) / secs
	}
	return f
}

// slowestSorted returns the slowest requests, slowest first.
func (a *aggregator) slowestSorted() []summary.Request {
	out := append([]summary.Request(nil), a.slowest...)
	sort.Slice(out, func(i, j int) bool { return out[i].LatencyMs > out[j].LatencyMs })
	return out
}

// latencies converts a t-digest to the summary's milliseconds.
func latencies(l *vegeta.LatencyMetrics, n int64) summary.Latencies {
	if n == 0 {
		return summary.Latencies{}
	}
	return summary.Latencies{
		Min:  summary.Ms(l.Min),
		Mean: summary.Ms(time.Duration(float64(l.Total) / float64(n))),
		P50:  summary.Ms(l.Quantile(0.50)),
		P90:  summary.Ms(l.Quantile(0.90)),
		P95:  summary.Ms(l.Quantile(0.95)),
		P99:  summary.Ms(l.Quantile(0.99)),
		P999: summary.Ms(l.Quantile(0.999)),
		Max:  summary.Ms(l.Max),
	}
}

// Describe turns a result into a report line: offset of its send time from start, trace id
// from the response headers, and a Jaeger link (jaegerURL/trace/<id>) only when the trace was
// sampled and jaegerURL is set. class is the error class or any scenario-specific class.
func Describe(r *vegeta.Result, class string, start time.Time, jaegerURL string) summary.Request {
	id, sampled := TraceOf(r)
	req := summary.Request{
		OffsetMs:  summary.Ms(r.Timestamp.Sub(start)),
		Method:    r.Method,
		URL:       StripNotes(r.URL),
		Code:      int(r.Code),
		LatencyMs: summary.Ms(r.Latency),
		Error:     r.Error,
		Class:     class,
		TraceID:   id,
		Sampled:   sampled,
	}
	if sampled && id != "" && jaegerURL != "" {
		req.TraceURL = strings.TrimRight(jaegerURL, "/") + "/trace/" + id
	}
	return req
}

// slowHeap is a min-heap on latency: its root is the fastest of the slowest N, the one to evict.
type slowHeap []summary.Request

func (h slowHeap) Len() int           { return len(h) }
func (h slowHeap) Less(i, j int) bool { return h[i].LatencyMs < h[j].LatencyMs }
func (h slowHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *slowHeap) Push(x any)        { *h = append(*h, x.(summary.Request)) }
func (h *slowHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
