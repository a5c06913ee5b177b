package jaeger

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
)

// KeepAttribute is the span attribute of a keep marker; deploy/jaeger/config.yaml's bench-keep
// policy keeps every trace that has a span carrying it.
const KeepAttribute = "bench.keep"

// markerService is the service.name of the Keeper's markers.
const markerService = "loadtest"

// A marker waits hold after its response in the Keeper and is sent only if its request is
// still among the attack's slowest N then: early in an attack almost every result enters the
// top N and most leave it within seconds, and a marker for each would keep those traces for
// nothing (an attack shorter than hold has its final top N by then: no waste at all). It must
// still reach Jaeger within the tail-sampling decision wait (10 s, counted from the trace's
// first span, which the server may export right at the response): 7 s plus one flushEvery
// leaves ~3 s of margin.
const (
	hold       = 7 * time.Second
	flushEvery = 200 * time.Millisecond
)

// Keeper tells Jaeger's tail sampling which traces the report will list, while Jaeger still
// holds them undecided. Slowness as the client saw it is only known to the harness: a request
// can be among a scenario's slowest while its server span was fast, and no threshold in the
// collector can pick a scenario's slowest N. So for every result that is still in its
// scenario's running top N by latency a few seconds after its response (hold), and for every
// failed one (no response, or 5xx), the Keeper sends a small span with the same trace id and
// bench.keep set, and the bench-keep policy keeps the trace. A request that falls out of the
// top N after that was kept for nothing; the hold makes those few.
type Keeper struct {
	endpoint string // OTLP/HTTP traces URL: <base>/v1/traces
	client   *http.Client
	n        int

	mu      sync.Mutex
	top     map[string]*minHeap // per scenario: the N largest latencies so far
	pending []marker
	sendErr error // the first failed send, reported by Close
	stop    chan struct{}
	done    chan struct{}
}

type marker struct {
	name     string // the request, as the span's name: GET /items
	scenario string
	traceID  string
	reason   string // slowest or failed
	latency  time.Duration
	at       time.Time // when the response ended (or the request gave up)
	due      time.Time // when to send it, if still wanted
}

// NewKeeper starts a Keeper that sends markers to the OTLP/HTTP endpoint base (as the server's
// OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://127.0.0.1:4318) for the n slowest requests of each
// scenario. Close stops it.
func NewKeeper(base string, n int) *Keeper {
	k := &Keeper{
		endpoint: strings.TrimRight(base, "/") + "/v1/traces",
		client:   &http.Client{Timeout: 5 * time.Second},
		n:        n,
		top:      map[string]*minHeap{},
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go k.loop()
	return k
}

// Observe sees one result of an attack (a scenario, or one step of the ramp, which reports the
// slowest of its own step), in OnResult order; each attack has its own top N. A nil Keeper
// does nothing, so that a run without the stack pays one nil check per result.
func (k *Keeper) Observe(scenario string, r *vegeta.Result) {
	if k == nil {
		return
	}
	id, _ := attack.TraceOf(r)
	// A refused connection never reached the server: there is no trace to keep, and a marker
	// alone would only make a trace of nothing.
	if id == "" || attack.Classify(r) == attack.ClassRefused {
		return
	}
	reason := ""
	if r.Code == 0 || r.Code >= 500 {
		reason = "failed"
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	h := k.top[scenario]
	if h == nil {
		h = &minHeap{}
		k.top[scenario] = h
	}
	switch {
	case h.Len() < k.n:
		heap.Push(h, r.Latency)
		reason = "slowest"
	case k.n > 0 && r.Latency > (*h)[0]:
		(*h)[0] = r.Latency
		heap.Fix(h, 0)
		reason = "slowest"
	}
	if reason != "" {
		// Due hold after the response, not after it was seen: on a loaded machine results can
		// reach the Keeper late, and the decision wait runs from the server's export.
		end := r.Timestamp.Add(r.Latency)
		k.pending = append(k.pending, marker{name: r.Method + " " + path(r.URL), scenario: scenario, traceID: id, reason: reason, latency: r.Latency,
			at: end, due: end.Add(hold)})
	}
}

// take removes and returns the pending markers due by now (all with force) that are still
// wanted: failed ones always, slowest ones while their latency is still in the top N.
func (k *Keeper) take(now time.Time, force bool) []marker {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []marker
	keep := k.pending[:0]
	for _, m := range k.pending {
		if !force && m.due.After(now) {
			keep = append(keep, m)
			continue
		}
		h := k.top[m.scenario]
		if m.reason == "failed" || h.Len() < k.n || m.latency >= (*h)[0] {
			out = append(out, m)
		}
	}
	k.pending = keep
	return out
}

// Close sends what is pending and stops the Keeper; the error is the first send that failed.
func (k *Keeper) Close() error {
	if k == nil {
		return nil
	}
	close(k.stop)
	<-k.done
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sendErr
}

func (k *Keeper) loop() {
	defer close(k.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			k.flush(time.Now(), true)
			return
		case now := <-t.C:
			k.flush(now, false)
		}
	}
}

func (k *Keeper) flush(now time.Time, force bool) {
	batch := k.take(now, force)
	if len(batch) == 0 {
		return
	}
	if err := k.send(batch); err != nil {
		k.mu.Lock()
		if k.sendErr == nil {
			k.sendErr = err
		}
		k.mu.Unlock()
	}
}

// send posts the markers as one OTLP/HTTP JSON request: a span per trace, service "loadtest".
func (k *Keeper) send(batch []marker) error {
	spans := make([]map[string]any, 0, len(batch))
	for _, m := range batch {
		sid := make([]byte, 8)
		_, _ = rand.Read(sid)
		end := m.at
		if end.IsZero() {
			end = time.Now()
		}
		spans = append(spans, map[string]any{
			"traceId": m.traceID, "spanId": hex.EncodeToString(sid), "name": "loadtest " + m.name + " (kept: " + m.reason + ")", "kind": 3,
			"startTimeUnixNano": strconv.FormatInt(end.Add(-m.latency).UnixNano(), 10),
			"endTimeUnixNano":   strconv.FormatInt(end.UnixNano(), 10),
			"attributes": []map[string]any{
				{"key": KeepAttribute, "value": map[string]any{"stringValue": m.reason}},
				{"key": "bench.client_latency_ms", "value": map[string]any{"doubleValue": float64(m.latency) / float64(time.Millisecond)}},
			},
		})
	}
	body, err := json.Marshal(map[string]any{"resourceSpans": []any{map[string]any{
		"resource":   map[string]any{"attributes": []any{map[string]any{"key": "service.name", "value": map[string]any{"stringValue": markerService}}}},
		"scopeSpans": []any{map[string]any{"scope": map[string]any{"name": "loadtest/internal/jaeger"}, "spans": spans}},
	}}})
	if err != nil {
		return fmt.Errorf("encode keep markers: %w", err)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, k.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("send keep markers: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("send %d keep markers: %w", len(batch), err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("send %d keep markers to %s: %s", len(batch), k.endpoint, resp.Status)
	}
	return nil
}

// path is a request URL's path: the marker's name, without host, query or the harness's notes.
func path(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Path
}

// minHeap holds latencies with the smallest at the root: the one a slower result replaces.
type minHeap []time.Duration

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(time.Duration)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
