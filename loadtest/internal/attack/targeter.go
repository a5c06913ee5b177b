package attack

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// The engine's notes travel in the target URL's fragment: net/http never sends a fragment (it is
// not part of the request line), but vegeta copies the target URL into Result.URL, so the notes
// come back with every result, including the ones that never got a response.
//   - DelayMarker marks a held request, one of TargetOptions.Held (see Delayed).
//   - "tp=<trace id>-<flags>" is the traceparent sent, so a request lost without a response (reset,
//     EOF, timeout) still has its trace id (see TraceOf).
const (
	DelayMarker = "bench-delay"
	tracePrefix = "tp="
)

// TargetOptions configure NewTargeter. Shares are in [0, 1].
type TargetOptions struct {
	BaseURL     string        // e.g. http://127.0.0.1:8080, no trailing path
	Token       string        // bearer token; empty sends no Authorization header
	DelayShare  float64       // share of requests drawn from Held (marked DelayMarker)
	Delay       time.Duration // the hold time: {delay} in the held targets
	TraceSample float64       // share of requests whose traceparent is sampled (flags 01)
	Seed        int64         // seeds the mix, the held requests and the sampling decisions
	// Shard makes the targeter one worker's share of the schedule's requests: its n-th target
	// is the one the whole schedule's targeter makes for hit Shard.Global(n). Zero: the whole.
	Shard Shard
	// Requests is the mix (a -targets file; the items server's is loadtest/internal/items):
	// each hit is one of them drawn by Seed, so a target listed twice is drawn twice as often;
	// its scheme and host become BaseURL's. A DelayShare of the hits are one of Held instead (a
	// -held-targets file), with "{delay}" in its URL and header values replaced by Delay: the
	// held requests (Delayed). Required.
	Requests []vegeta.Target
	Held     []vegeta.Target
}

// DelayPlaceholder in a held target's URL or header values is replaced by the scenario's hold
// time (-cancel-delay, -hold-delay), e.g. GET http://svc/slow?d={delay}.
const DelayPlaceholder = "{delay}"

// NewTargeter returns a Targeter of o's targets: a seeded mix (the choices depend only on Seed
// and the call order), a fresh W3C traceparent per request with a random trace id (random across
// runs, so Jaeger never merges two runs' traces), and an Idempotency-Key on every POST that has
// none. The key matters for honesty in the shutdown scenario: net/http's transport retries a
// request that hit a connection the server had just closed only when it is replayable, which for
// a POST means carrying that header; without it POSTs would show EOFs a GET would not.
// Without Requests every call fails. It is safe for concurrent use, as vegeta's workers call it
// concurrently.
func NewTargeter(o TargetOptions) vegeta.Targeter {
	base := strings.TrimRight(o.BaseURL, "/")
	var (
		mu    sync.Mutex
		rng   = rand.New(rand.NewSource(o.Seed))
		drawn uint64 // hits of the schedule whose choices were drawn
		calls uint64 // this targeter's hits
	)
	requests, held := rebase(o.Requests, base, ""), rebase(o.Held, base, o.Delay.String())
	return func(t *vegeta.Target) error {
		if t == nil {
			return vegeta.ErrNilTarget
		}
		if requests == nil {
			return ErrNoTargets
		}
		mu.Lock()
		// A shard draws the choices of every hit of the schedule up to its own, the other
		// workers' too, and keeps its own: together the workers send the one process's mix,
		// held requests and sampling decisions, hit for hit.
		seq := o.Shard.Global(calls) + 1
		calls++
		var c choice
		for drawn < seq {
			c = o.draw(rng, len(requests), len(held))
			drawn++
		}
		mu.Unlock()

		from := requests[c.request]
		if c.delayed {
			from = held[c.held]
		}
		h := make(http.Header, len(from.Header)+3)
		for k, vs := range from.Header {
			h[k] = append([]string(nil), vs...)
		}
		if o.Token != "" {
			h.Set("Authorization", "Bearer "+o.Token)
		}
		traceID, flags := randomHex(16), "00"
		if c.sampled {
			flags = "01"
		}
		h.Set("Traceparent", "00-"+traceID+"-"+randomHex(8)+"-"+flags)
		t.Method, t.URL, t.Body = from.Method, from.URL, from.Body
		if t.Method == http.MethodPost && h.Get("Idempotency-Key") == "" {
			h.Set("Idempotency-Key", randomHex(16))
		}
		t.URL += "#" + tracePrefix + traceID + "-" + flags
		if c.delayed {
			t.URL += "&" + DelayMarker
		}
		t.Header = h
		return nil
	}
}

// ErrNoTargets is what a Targeter without TargetOptions.Requests returns.
var ErrNoTargets = errors.New("no targets: TargetOptions.Requests is empty")

// choice is what the seeded mix decided for one hit.
type choice struct {
	delayed, sampled bool
	request          int // the index into Requests
	held             int // the index into Held
}

// draw decides one hit, always drawing the same random numbers in the same order for the same
// options (a shard's skipped hits must consume what the one process would).
func (o TargetOptions) draw(rng *rand.Rand, requests, held int) choice {
	c := choice{request: rng.Intn(requests)}
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
// time, so one file serves every run. An "@file" body is read from bodies (the targets file's
// folder, or the files embedded beside it), not from the working directory as vegeta would.
func ParseTargets(r io.Reader, bodies fs.FS) ([]vegeta.Target, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read targets: %w", err)
	}
	var (
		tr    vegeta.Targeter
		files map[int][]byte // target index → its @file body
	)
	if trimmed := bytes.TrimSpace(src); len(trimmed) > 0 && trimmed[0] == '{' {
		tr = vegeta.NewJSONTargeter(bytes.NewReader(src), nil, nil)
	} else {
		var rest string
		if rest, files, err = readBodies(string(src), bodies); err != nil {
			return nil, err
		}
		tr = vegeta.NewHTTPTargeter(strings.NewReader(rest), nil, nil)
	}
	targets, err := vegeta.ReadAllTargets(tr)
	if err != nil {
		return nil, fmt.Errorf("does not parse: %w", err)
	}
	if len(targets) == 0 {
		return nil, errors.New("no targets")
	}
	for i, t := range targets {
		if b, ok := files[i]; ok {
			targets[i].Body = b
		}
		u, err := url.Parse(strings.ReplaceAll(t.URL, DelayPlaceholder, "1s"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("target %d: %q is not an absolute http(s) URL", i+1, t.URL)
		}
	}
	return targets, nil
}

// readBodies takes the "@file" lines out of an HTTP-format targets file and reads each body from
// bodies, keyed by the index of the target it follows (the request lines before it, less one).
func readBodies(src string, bodies fs.FS) (string, map[int][]byte, error) {
	lines := strings.Split(src, "\n")
	kept := lines[:0]
	files := map[int][]byte{}
	n := 0 // request lines so far
	for i, line := range lines {
		l := strings.TrimSpace(line)
		name, isBody := strings.CutPrefix(l, "@")
		switch {
		case isBody:
			if n == 0 {
				return "", nil, fmt.Errorf("does not parse: line %d: a body before any request line", i+1)
			}
			b, err := fs.ReadFile(bodies, strings.TrimPrefix(filepath.ToSlash(filepath.Clean(name)), "/"))
			if err != nil {
				return "", nil, fmt.Errorf("line %d: body: %w", i+1, err)
			}
			files[n-1] = b
			continue
		case l != "" && !strings.HasPrefix(l, "#"):
			if first, _, _ := strings.Cut(l, " "); !strings.Contains(first, ":") {
				n++ // "METHOD URL", not "Key: value"
			}
		}
		kept = append(kept, line)
	}
	return strings.Join(kept, "\n"), files, nil
}

// Delayed reports whether r was one of the held requests of a Targeter from NewTargeter.
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
