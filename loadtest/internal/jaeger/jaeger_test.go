package jaeger_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/jaeger"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// stack is a real Jaeger started from .bin/jaeger (make jaeger) with the project's own config,
// deploy/jaeger/config.yaml, tail sampling included.
type stack struct {
	query, otlp string // http://127.0.0.1:PORT
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startJaeger runs Jaeger with a 1 s decision wait (the stack's is 10 s: a test need not wait
// for a server's 5 s export interval) and no probabilistic share, so that a kept trace was kept
// by a rule. It is stopped, by its PID, when the test ends.
func startJaeger(t *testing.T) stack {
	t.Helper()
	bin, err := filepath.Abs("../../../.bin/jaeger")
	if err != nil {
		t.Fatal(err)
	}
	if v := os.Getenv("JAEGER_BIN"); v != "" {
		bin = v
	} else if _, err := os.Stat(bin); err != nil {
		t.Skipf("no Jaeger binary at %s: run `make jaeger` (or set JAEGER_BIN) to run the checks against a real Jaeger", bin)
	}
	query, otlp, health := freePort(t), freePort(t), freePort(t)
	cmd := exec.Command(bin, "--config", "file:../../../deploy/jaeger/config.yaml")
	cmd.Env = append(os.Environ(),
		"JAEGER_OTLP_GRPC_ADDR="+freePort(t), "JAEGER_OTLP_HTTP_ADDR="+otlp,
		"JAEGER_QUERY_HTTP_ADDR="+query, "JAEGER_QUERY_GRPC_ADDR="+freePort(t), "JAEGER_HEALTH_ADDR="+health,
		"JAEGER_TAIL_DECISION_WAIT=1s", "JAEGER_TAIL_KEEP_PERCENT=0", "JAEGER_TAIL_SLOW_MS=20")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + health + "/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stack{query: "http://" + query, otlp: "http://" + otlp}
			}
		}
		select {
		case <-exited:
			t.Fatalf("jaeger exited during start:\n%s", log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("jaeger not healthy within 60 s:\n%s", log.String())
		}
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// span is one server span sent over OTLP/HTTP JSON, the way the items server exports.
type span struct {
	duration  time.Duration
	status    int // HTTP status, as http.response.status_code
	errStatus bool
	delay     string // bench.delay, empty: none
}

func send(t *testing.T, otlp string, spans map[string]span) {
	t.Helper()
	var list []map[string]any
	end := time.Now()
	for id, s := range spans {
		attrs := []map[string]any{
			{"key": "http.route", "value": map[string]any{"stringValue": "/api/v1/items"}},
			{"key": "http.response.status_code", "value": map[string]any{"intValue": strconv.Itoa(s.status)}},
		}
		if s.delay != "" {
			attrs = append(attrs, map[string]any{"key": "bench.delay", "value": map[string]any{"stringValue": s.delay}})
		}
		code := 0
		if s.errStatus {
			code = 2
		}
		list = append(list, map[string]any{
			"traceId": id, "spanId": randomHex(t, 8), "name": "GET /api/v1/items", "kind": 2,
			"startTimeUnixNano": strconv.FormatInt(end.Add(-s.duration).UnixNano(), 10),
			"endTimeUnixNano":   strconv.FormatInt(end.UnixNano(), 10),
			"attributes":        attrs, "status": map[string]any{"code": code},
		})
	}
	body, err := json.Marshal(map[string]any{"resourceSpans": []any{map[string]any{
		"resource":   map[string]any{"attributes": []any{map[string]any{"key": "service.name", "value": map[string]any{"stringValue": "items-server"}}}},
		"scopeSpans": []any{map[string]any{"scope": map[string]any{"name": "jaeger_test"}, "spans": list}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(otlp+"/v1/traces", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("send spans: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("send spans: %s", resp.Status)
	}
}

// TestTailSamplingAndResolve sends traces of every kind to a real Jaeger running the stack's
// config: the slow, failed (error status, 499, 5xx) and bench-delayed ones resolve, a fast
// successful one is dropped and a trace never sent does not resolve either.
func TestTailSamplingAndResolve(t *testing.T) {
	j := startJaeger(t)
	cases := map[string]struct {
		span span
		kept bool
	}{
		"fast 200":         {span{duration: 2 * time.Millisecond, status: 200}, false},
		"fast 404":         {span{duration: 2 * time.Millisecond, status: 404}, false},
		"slow 200":         {span{duration: 50 * time.Millisecond, status: 200}, true},
		"error status":     {span{duration: 2 * time.Millisecond, status: 200, errStatus: true}, true},
		"499":              {span{duration: 2 * time.Millisecond, status: 499}, true},
		"503":              {span{duration: 2 * time.Millisecond, status: 503}, true},
		"bench delay 200":  {span{duration: 2 * time.Millisecond, status: 200, delay: "1s"}, true},
		"never sent (nil)": {span{}, false},
	}
	ids := map[string]string{} // name -> trace id
	spans := map[string]span{}
	var all []string
	for name, c := range cases {
		id := randomHex(t, 16)
		ids[name] = id
		all = append(all, id)
		if c.span.status != 0 {
			spans[id] = c.span
		}
	}
	send(t, j.otlp, spans)
	ctx := context.Background()
	found, err := jaeger.Resolve(ctx, http.DefaultClient, j.query, all, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range cases {
		if got := found[ids[name]]; got != c.kept {
			t.Errorf("%s: resolves = %v, want %v", name, got, c.kept)
		}
	}

	t.Run("Mark", func(t *testing.T) {
		link := func(id string) summary.Request {
			return summary.Request{TraceID: id, Sampled: true, TraceURL: j.query + "/trace/" + id}
		}
		scs := []summary.Scenario{
			{Name: "steady", Slowest: []summary.Request{link(ids["slow 200"]), link(ids["fast 200"]), {TraceID: ids["503"]}}},
			{Name: "shutdown", Lost: []summary.Request{link(ids["499"])}},
		}
		checked, missing, err := jaeger.Mark(ctx, http.DefaultClient, j.query, scs, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if checked != 3 || len(missing) != 1 || missing[0] != ids["fast 200"] {
			t.Fatalf("Mark = %d checked, missing %v; want 3 checked, missing [%s]", checked, missing, ids["fast 200"])
		}
		got := fmt.Sprint(*scs[0].Slowest[0].TraceFound, *scs[0].Slowest[1].TraceFound, scs[0].Slowest[1].TraceURL == "", scs[0].Slowest[2].TraceFound == nil, *scs[1].Lost[0].TraceFound)
		if got != "true false true true true" {
			t.Fatalf("marks (slow found, fast found, fast link removed, unlinked unasked, lost found) = %s", got)
		}
	})
}

// TestResolveJaegerDown checks that a Jaeger that cannot be asked is an error, never "not found".
func TestResolveJaegerDown(t *testing.T) {
	addr := freePort(t) // closed again: nothing listens there
	found, err := jaeger.Resolve(context.Background(), http.DefaultClient, "http://"+addr, []string{"0af7651916cd43dd8448eb211c80319c"}, time.Second)
	if err == nil {
		t.Fatalf("Resolve against nothing = %v, nil; want an error", found)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	if _, err := jaeger.Resolve(context.Background(), srv.Client(), srv.URL, []string{"aa"}, time.Second); err == nil {
		t.Fatal("Resolve accepted a 500 from Jaeger")
	}
}

// result is a vegeta result as the harness's targeter leaves it: the trace id in the URL's
// fragment.
func result(id string, code uint16, latency time.Duration) *vegeta.Result {
	return &vegeta.Result{Code: code, Latency: latency, Timestamp: time.Now().Add(-latency),
		URL: "http://127.0.0.1:1/api/v1/items#tp=" + id + "-01"}
}

// TestKeeper checks that the traces of the results still in the top N when sent, and of the
// failed ones, are kept by a real Jaeger's tail sampling although their server spans were fast;
// results that left the top N before their marker was due, and the rest, are dropped; a marker
// alone (the server never traced that request) does not resolve.
func TestKeeper(t *testing.T) {
	j := startJaeger(t)
	const n = 3
	spans := map[string]span{}
	k := jaeger.NewKeeper(j.otlp, n)
	observe := func(scenario string, code uint16, latency time.Duration, traced bool) string {
		id := randomHex(t, 16)
		if traced {
			spans[id] = span{duration: 2 * time.Millisecond, status: 200}
		}
		k.Observe(scenario, result(id, code, latency))
		return id
	}
	var early, slow, fast []string
	// Two fast results fill the empty top 3, then three slow ones push them out before their
	// markers are due; later, faster results never enter.
	for i := 0; i < 2; i++ {
		early = append(early, observe("steady", 200, time.Millisecond, true))
	}
	for i := 0; i < n; i++ {
		slow = append(slow, observe("steady", 200, time.Duration(100-i)*time.Millisecond, true))
	}
	for i := 0; i < 5; i++ {
		fast = append(fast, observe("steady", 200, time.Duration(10+i)*time.Millisecond, true))
	}
	failed := observe("steady", 0, time.Millisecond, true)
	// Another scenario has its own top N: its first result enters it whatever steady saw.
	other := observe("cancel", 200, time.Millisecond, true)
	ghost := observe("cancel", 200, time.Second, false) // only the marker reaches Jaeger
	// Refused: never reached the server, so no marker either (it would be a trace of nothing);
	// its span here stands for one the Keeper must not cause to be kept.
	refused := randomHex(t, 16)
	spans[refused] = span{duration: 2 * time.Millisecond, status: 200}
	refusedResult := result(refused, 0, 5*time.Second)
	refusedResult.Error = "dial tcp 127.0.0.1:1: connect: connection refused"
	k.Observe("shutdown", refusedResult)
	send(t, j.otlp, spans)
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	all := append(append(append(append([]string(nil), early...), slow...), fast...), failed, other, ghost, refused)
	found, err := jaeger.Resolve(context.Background(), http.DefaultClient, j.query, all, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range append(append(slow, failed), other) {
		if !found[id] {
			t.Errorf("trace %s (slowest, failed or first of its scenario) not kept", id)
		}
	}
	for _, id := range append(append(early, fast...), ghost, refused) {
		if found[id] {
			t.Errorf("trace %s (out of the top %d when due, or only a marker) resolves", id, n)
		}
	}
}

// TestKeeperReportsSendFailure checks that markers that cannot be delivered surface at Close.
func TestKeeperReportsSendFailure(t *testing.T) {
	k := jaeger.NewKeeper("http://"+freePort(t), 1)
	k.Observe("steady", result("0af7651916cd43dd8448eb211c80319c", 200, time.Millisecond))
	if err := k.Close(); err == nil {
		t.Fatal("Close = nil after markers could not be sent")
	}
	var none *jaeger.Keeper
	none.Observe("steady", result("0af7651916cd43dd8448eb211c80319c", 200, time.Millisecond))
	if err := none.Close(); err != nil {
		t.Fatalf("nil Keeper Close = %v", err)
	}
}
