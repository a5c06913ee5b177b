package attack

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand"
	randv2 "math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
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
	// Requests, when set, is the mix (a -targets file) instead of the items API's: each hit is
	// one of them drawn by Seed, so a target listed twice is drawn twice as often; its scheme
	// and host become BaseURL's. A DelayShare of the hits are one of Held instead (a
	// -held-targets file), with "{delay}" in its URL and header values replaced by Delay: the
	// held requests (Delayed). PostShare, PerPage and Pages are then unused.
	Requests []vegeta.Target
	Held     []vegeta.Target
}

// DelayPlaceholder in a held target's URL or header values is replaced by the scenario's hold
// time (-cancel-delay, -hold-delay), e.g. GET http://svc/slow?d={delay}.
const DelayPlaceholder = "{delay}"

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
	requests, held := rebase(o.Requests, base, ""), rebase(o.Held, base, delay)
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
			if requests != nil {
				c = o.drawFile(rng, len(requests), len(held))
			} else {
				c = o.draw(rng, pages)
			}
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
		switch {
		case requests != nil:
			from := requests[c.page]
			if c.delayed {
				from = held[c.held]
			}
			for k, vs := range from.Header {
				h[k] = append([]string(nil), vs...)
			}
			t.Method, t.URL, t.Body = from.Method, from.URL, from.Body
			if t.Method == http.MethodPost && h.Get("Idempotency-Key") == "" {
				h.Set("Idempotency-Key", randomHex(16))
			}
		case c.post:
			t.Method = http.MethodPost
			t.URL = base + createPath
			t.Body = []byte(fmt.Sprintf(`{"name":"bench-%d","description":"created by the load harness"}`, seq))
			h.Set("Content-Type", "application/json")
			h.Set("Idempotency-Key", randomHex(16))
		default:
			t.Method = http.MethodGet
			t.URL = base + listPath + "?per_page=" + strconv.Itoa(perPage) + "&page=" + strconv.Itoa(c.page)
		}
		t.URL += "#" + tracePrefix + traceID + "-" + flags
		if c.delayed {
			if requests == nil {
				h.Set("X-Bench-Delay", delay)
			}
			t.URL += "&" + DelayMarker
		}
		t.Header = h
		return nil
	}
}

// choice is what the seeded mix decided for one hit.
type choice struct {
	post, delayed, sampled bool
	page                   int // the items page, or the index into Requests
	held                   int // the index into Held
}

// drawFile decides one hit of a targets file's mix: always the same draws in the same order for
// the same options, as draw.
func (o TargetOptions) drawFile(rng *rand.Rand, requests, held int) choice {
	c := choice{page: rng.Intn(requests)}
	c.delayed = o.Delay > 0 && held > 0 && rng.Float64() < o.DelayShare
	if c.delayed {
		c.held = rng.Intn(held)
	}
	c.sampled = rng.Float64() < o.TraceSample
	return c
}

// rebase returns targets with the scheme and host of base, no fragment, and delay in place of
// DelayPlaceholder (when delay is not empty); nil when there are none.
func rebase(targets []vegeta.Target, base, delay string) []vegeta.Target {
	if len(targets) == 0 {
		return nil
	}
	b, err := url.Parse(base)
	out := make([]vegeta.Target, len(targets))
	for i, t := range targets {
		if delay != "" {
			t.URL = strings.ReplaceAll(t.URL, DelayPlaceholder, delay)
			hdr := make(http.Header, len(t.Header))
			for k, vs := range t.Header {
				for _, v := range vs {
					hdr.Add(k, strings.ReplaceAll(v, DelayPlaceholder, delay))
				}
			}
			t.Header = hdr
		}
		if u, uerr := url.Parse(t.URL); uerr == nil && err == nil {
			u.Scheme, u.Host, u.Fragment = b.Scheme, b.Host, ""
			if p := strings.TrimRight(b.Path, "/"); p != "" {
				u.Path, u.RawPath = p+u.Path, ""
			}
			t.URL = u.String()
		}
		out[i] = t
	}
	return out
}

// ParseTargets reads a targets file in either of vegeta's formats: JSON (one object a line,
// {"method","url","header","body"}) when its first non-blank character is "{", else HTTP
// ("METHOD URL" lines, "Key: value" headers, "@file" bodies, a blank line between targets).
// Every target needs an absolute http(s) URL; its host is replaced by the server's at attack
// time, so one file serves every run. A relative "@file" body is read from dir (the targets
// file's folder), not from the working directory as vegeta would.
func ParseTargets(r io.Reader, dir string) ([]vegeta.Target, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read targets: %w", err)
	}
	var tr vegeta.Targeter
	if trimmed := bytes.TrimSpace(src); len(trimmed) > 0 && trimmed[0] == '{' {
		tr = vegeta.NewJSONTargeter(bytes.NewReader(src), nil, nil)
	} else {
		lines := strings.Split(string(src), "\n")
		for i, line := range lines {
			if body, ok := strings.CutPrefix(strings.TrimSpace(line), "@"); ok && !filepath.IsAbs(body) {
				lines[i] = "@" + filepath.Join(dir, body)
			}
		}
		tr = vegeta.NewHTTPTargeter(strings.NewReader(strings.Join(lines, "\n")), nil, nil)
	}
	targets, err := vegeta.ReadAllTargets(tr)
	if err != nil {
		return nil, fmt.Errorf("does not parse: %w", err)
	}
	if len(targets) == 0 {
		return nil, errors.New("no targets")
	}
	for i, t := range targets {
		u, err := url.Parse(strings.ReplaceAll(t.URL, DelayPlaceholder, "1s"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("target %d: %q is not an absolute http(s) URL", i+1, t.URL)
		}
	}
	return targets, nil
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
