package proof

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/errclass"
)

// Sent is one request of a bench as its results file (<scenario>.bin, vegeta's gob) recorded it.
type Sent struct {
	TraceID string
	Code    int
	Latency time.Duration
	Delayed bool // sent with X-Bench-Delay (a held or cancelled request)
	Error   string
}

// ReachedServer reports whether the request got as far as the server (which then traced it): a
// refused connection never did.
func (s Sent) ReachedServer() bool {
	return errclass.Of(s.Error) != errclass.Refused
}

// ReadResults decodes a vegeta results file written by the harness. The trace id and the
// bench-delay mark come from the notes the harness keeps in each target URL's fragment
// (#tp=<trace id>-<flags>[&bench-delay], loadtest/internal/attack): the server honours the
// incoming traceparent, so that is its trace's id, with or without a response.
func ReadResults(path string) ([]Sent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	dec := vegeta.NewDecoder(f)
	var out []Sent
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("decode %s after %d results: %w", path, len(out), err)
		}
		s := Sent{Code: int(r.Code), Latency: r.Latency, Error: r.Error}
		if u, err := url.Parse(r.URL); err == nil {
			for _, note := range strings.Split(u.Fragment, "&") {
				if tp, ok := strings.CutPrefix(note, "tp="); ok {
					s.TraceID, _, _ = strings.Cut(tp, "-")
				}
				s.Delayed = s.Delayed || note == "bench-delay"
			}
		}
		if s.TraceID == "" {
			return nil, fmt.Errorf("%s: result %d (%s) carries no trace id in its URL", path, len(out)+1, r.URL)
		}
		out = append(out, s)
	}
}

// CheckKeptShare fails when Jaeger kept percent + 5 (percentage points) or more of the fast
// requests' traces: tail sampling was meant to keep only its probabilistic share of them.
func CheckKeptShare(kept, total int, percent float64) error {
	if total == 0 {
		return errors.New("no fast request to look up: the share of kept traces is unknown")
	}
	share := 100 * float64(kept) / float64(total)
	if limit := percent + 5; share >= limit {
		return fmt.Errorf("Jaeger kept %d of %d fast requests' traces (%.1f %%), want fewer than %.0f %% (probabilistic share %.0f %% + 5)", kept, total, share, limit, percent)
	}
	return nil
}

// Exemplar is one exemplar of Prometheus's /api/v1/query_exemplars answer.
type Exemplar struct {
	Series  map[string]string
	TraceID string  // the trace_id label
	Value   float64 // the observed value (seconds)
}

// QueryExemplars asks Prometheus for the exemplars of a selector over a time range.
func QueryExemplars(ctx context.Context, c *http.Client, base, expr string, start, end time.Time) ([]byte, error) {
	q := url.Values{}
	q.Set("query", expr)
	q.Set("start", strconv.FormatInt(start.Unix(), 10))
	q.Set("end", strconv.FormatInt(end.Unix(), 10))
	return get(ctx, c, strings.TrimRight(base, "/")+"/api/v1/query_exemplars?"+q.Encode(), true)
}

// ParseExemplars reads a query_exemplars answer; label is the exemplar label holding the trace
// id. An exemplar without it is an error: the dashboards could not link it to a trace.
func ParseExemplars(body []byte, label string) ([]Exemplar, error) {
	var r struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      []struct {
			SeriesLabels map[string]string `json:"seriesLabels"`
			Exemplars    []struct {
				Labels map[string]string `json:"labels"`
				Value  string            `json:"value"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decode Prometheus exemplars: %w", err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("prometheus exemplars: %s: %s", r.ErrorType, r.Error)
	}
	var out []Exemplar
	for _, s := range r.Data {
		for _, e := range s.Exemplars {
			v, err := strconv.ParseFloat(e.Value, 64)
			if err != nil {
				return nil, fmt.Errorf("exemplar value %q: %w", e.Value, err)
			}
			id := e.Labels[label]
			if id == "" {
				return nil, fmt.Errorf("exemplar %v of %v has no %s label", e.Labels, s.SeriesLabels, label)
			}
			out = append(out, Exemplar{Series: s.SeriesLabels, TraceID: id, Value: v})
		}
	}
	return out, nil
}

// TraceDuration is a trace's length as tail sampling's latency policy measures it: from its
// earliest span start to its latest span end (Jaeger's startTime and duration, in µs).
func TraceDuration(body []byte) (time.Duration, error) {
	var t struct {
		Data []struct {
			Spans []struct {
				StartTime int64 `json:"startTime"`
				Duration  int64 `json:"duration"`
			} `json:"spans"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return 0, fmt.Errorf("decode Jaeger answer: %w", err)
	}
	if len(t.Data) != 1 || len(t.Data[0].Spans) == 0 {
		return 0, errors.New("Jaeger's answer holds no trace with spans")
	}
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range t.Data[0].Spans {
		first = min(first, s.StartTime)
		last = max(last, s.StartTime+s.Duration)
	}
	return time.Duration(last-first) * time.Microsecond, nil
}
