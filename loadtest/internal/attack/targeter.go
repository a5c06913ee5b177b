package attack

import (
	"encoding/hex"
	"fmt"
	"math/rand"
	randv2 "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// DefaultPostShare is the usual GET/POST mix: 80 % GETs, 20 % POSTs.
const DefaultPostShare = 0.2

// The engine's notes travel in the target URL's fragment: net/http never sends a fragment (it is
// not part of the request line), but vegeta copies the target URL into Result.URL, so the notes
// come back with every result, including the ones that never got a response.
//   - DelayMarker marks a request that carries X-Bench-Delay (see Delayed).
//   - "tp=<trace id>-<flags>" is the traceparent sent, so a request lost without a response (reset,
//     EOF, timeout) still has its trace id (see TraceOf).
const (
	DelayMarker = "bench-delay"
	tracePrefix = "tp="
)

// The API paths of the items server (docs/contracts.md).
const (
	listPath   = "/api/v1/items"
	createPath = "/api/v1/item"
)

// TargetOptions configure NewTargeter. Shares are in [0, 1].
type TargetOptions struct {
	BaseURL     string        // e.g. http://127.0.0.1:8080, no trailing path
	Token       string        // bearer token; empty sends no Authorization header
	PostShare   float64       // share of POSTs (DefaultPostShare for the usual 80/20 mix)
	PerPage     int           // per_page of the GETs; 0 means 20 (the server's default)
	Pages       int           // GETs pick page 1..Pages uniformly; 0 means 1
	DelayShare  float64       // share of requests carrying X-Bench-Delay: Delay (and DelayMarker)
	Delay       time.Duration // the bench delay asked for; needs the server's BENCH_DELAY=on
	TraceSample float64       // share of requests whose traceparent is sampled (flags 01)
	Seed        int64         // seeds the mix, the pages, the delays and the sampling decisions
	// Shard makes the targeter one worker's share of the schedule's requests: its n-th target
	// is the one the whole schedule's targeter makes for hit Shard.Global(n). Zero: the whole.
	Shard Shard
}

// NewTargeter returns a Targeter for the items API: a seeded GET/POST mix (the choices depend
// only on Seed and the call order), a fresh W3C traceparent per request with a random trace id
// (random across runs, so Jaeger never merges two runs' traces), and an Idempotency-Key on every
// POST. The key matters for honesty in the shutdown scenario: net/http's transport retries a
// request that hit a connection the server had just closed only when it is replayable, which for
// a POST means carrying that header; without it POSTs would show EOFs a GET would not.
// It is safe for concurrent use, as vegeta's workers call it concurrently.
func NewTargeter(o TargetOptions) vegeta.Targeter {
	base := strings.TrimRight(o.BaseURL, "/")
	perPage := o.PerPage
	if perPage <= 0 {
		perPage = 20
	}
	pages := o.Pages
	if pages <= 0 {
		pages = 1
	}
	var (
		mu    sync.Mutex
		rng   = rand.New(rand.NewSource(o.Seed))
		drawn uint64 // hits of the schedule whose choices were drawn
		calls uint64 // this targeter's hits
	)
	delay := o.Delay.String()
	return func(t *vegeta.Target) error {
		if t == nil {
			return vegeta.ErrNilTarget
		}
		mu.Lock()
		// A shard draws the choices of every hit of the schedule up to its own, the other
		// workers' too, and keeps its own: together the workers send the one process's mix,
		// held requests and sampling decisions, hit for hit.
		seq := o.Shard.Global(calls) + 1
		calls++
		var c choice
		for drawn < seq {
			c = o.draw(rng, pages)
			drawn++
		}
		mu.Unlock()

		h := make(http.Header, 6)
		if o.Token != "" {
			h.Set("Authorization", "Bearer "+o.Token)
		}
		traceID, flags := randomHex(16), "00"
		if c.sampled {
			flags = "01"
		}
		h.Set("Traceparent", "00-"+traceID+"-"+randomHex(8)+"-"+flags)
		t.Body = nil
		if c.post {
			t.Method = http.MethodPost
			t.URL = base + createPath
			t.Body = []byte(fmt.Sprintf(`{"name":"bench-%d","description":"created by the load harness"}`, seq))
			h.Set("Content-Type", "application/json")
			h.Set("Idempotency-Key", randomHex(16))
		} else {
			t.Method = http.MethodGet
			t.URL = base + listPath + "?per_page=" + strconv.Itoa(perPage) + "&page=" + strconv.Itoa(c.page)
		}
		t.URL += "#" + tracePrefix + traceID + "-" + flags
		if c.delayed {
			h.Set("X-Bench-Delay", delay)
			t.URL += "&" + DelayMarker
		}
		t.Header = h
		return nil
	}
}

// choice is what the seeded mix decided for one hit.
type choice struct {
	post, delayed, sampled bool
	page                   int
}

// draw decides one hit, always drawing the same random numbers in the same order for the same
// options (a shard's skipped hits must consume what the one process would).
func (o TargetOptions) draw(rng *rand.Rand, pages int) choice {
	c := choice{post: rng.Float64() < o.PostShare, page: 1 + rng.Intn(pages)}
	c.delayed = o.Delay > 0 && rng.Float64() < o.DelayShare
	c.sampled = rng.Float64() < o.TraceSample
	return c
}

// Delayed reports whether r was sent with X-Bench-Delay by a Targeter from NewTargeter.
func Delayed(r *vegeta.Result) bool {
	_, ok := fragmentNote(r.URL, DelayMarker)
	return ok
}

// fragmentNote finds a note of the URL fragment: the value after key (which may end in "=").
func fragmentNote(u, key string) (string, bool) {
	_, frag, ok := strings.Cut(u, "#")
	if !ok {
		return "", false
	}
	for note := range strings.SplitSeq(frag, "&") {
		if v, ok := strings.CutPrefix(note, key); ok {
			return v, true
		}
	}
	return "", false
}

// StripNotes returns the URL without the engine's fragment: the URL as the server saw it.
func StripNotes(u string) string {
	base, _, _ := strings.Cut(u, "#")
	return base
}

// randomHex returns n random bytes as hex, never all zero (an all-zero trace or span id is
// invalid in W3C Trace Context). math/rand/v2's global source is seeded randomly per process,
// which is all ids need, and unlike crypto/rand it does not contend under many workers.
func randomHex(n int) string {
	b := make([]byte, n)
	for {
		for i := 0; i < n; i += 8 {
			v := randv2.Uint64()
			for j := 0; j < 8 && i+j < n; j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		for _, c := range b {
			if c != 0 {
				return hex.EncodeToString(b)
			}
		}
	}
}

// TraceOf returns r's trace id and whether that trace was sampled. The server's word comes
// first: its traceresponse header, then its X-Trace-Id (sampling unknown: false). A request that
// never got a response (timeout, reset, EOF: the shutdown scenario's lost ones) falls back to the
// traceparent the targeter sent, kept in the URL fragment; the server honours an incoming
// traceparent, so that is the id its trace has, if it got that far.
func TraceOf(r *vegeta.Result) (id string, sampled bool) {
	if tr := r.Headers.Get("Traceresponse"); tr != "" {
		if id, sampled, ok := parseTrace(tr); ok {
			return id, sampled
		}
	}
	if id := r.Headers.Get("X-Trace-Id"); id != "" {
		return id, false
	}
	if tp, ok := fragmentNote(r.URL, tracePrefix); ok {
		if id, flags, ok := strings.Cut(tp, "-"); ok {
			if id, sampled, ok := parseTrace("00-" + id + "-0000000000000001-" + flags); ok {
				return id, sampled
			}
		}
	}
	return "", false
}

// parseTrace reads a W3C traceparent/traceresponse: version-traceid-spanid-flags.
func parseTrace(s string) (id string, sampled bool, ok bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 4 || len(parts[1]) != 32 {
		return "", false, false
	}
	flags, err := strconv.ParseUint(parts[3], 16, 8)
	if err != nil {
		return "", false, false
	}
	return parts[1], flags&1 == 1, true
}
