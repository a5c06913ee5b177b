package fleet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestResultRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	began := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) // the coordinator's start: another clock
	tests := []struct {
		name string
		r    vegeta.Result
	}{
		{"GET success", vegeta.Result{Seq: 7, Timestamp: t0.Add(1234567 * time.Nanosecond), Latency: 3 * time.Millisecond, Code: 200,
			BytesIn: 512, Method: "GET", URL: "http://127.0.0.1:8080/api/v1/items?page=2#tp=abc-01",
			Headers: http.Header{"Traceresponse": {"00-abc-def-01"}, "Content-Type": {"application/json"}}}},
		{"POST with body", vegeta.Result{Seq: 1 << 40, Timestamp: t0.Add(time.Hour), Latency: time.Second, Code: 201,
			BytesOut: 60, Method: "POST", URL: "http://h/api/v1/item", Body: []byte(`{"id":42}`),
			Headers: http.Header{"X-Multi": {"a", "b", ""}}}},
		{"transport error, sent before the start", vegeta.Result{Timestamp: t0.Add(-time.Millisecond), Latency: 5 * time.Second,
			Method: "GET", URL: "http://h/", Error: "Get \"http://h/\": dial tcp: connect: connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stream []byte
			payload := appendResult(nil, &tt.r, t0)
			stream = append(appendHead(stream, frameResult, len(payload)), payload...)
			stream = appendHead(stream, frameBeat, 0)
			br := bufio.NewReader(bytes.NewReader(stream))
			var buf []byte
			kind, p, err := readFrame(br, &buf)
			if err != nil || kind != frameResult {
				t.Fatalf("readFrame = %q, %v", kind, err)
			}
			var got vegeta.Result
			var d decoder
			if err := d.result(p, &got, began); err != nil {
				t.Fatal(err)
			}
			want := tt.r
			want.Timestamp = began.Add(tt.r.Timestamp.Sub(t0)) // mapped onto the coordinator's start
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded %+v\nwant    %+v", got, want)
			}
			if kind, _, err := readFrame(br, &buf); kind != frameBeat || err != nil {
				t.Errorf("second frame %q, %v; want a beat", kind, err)
			}
			if _, _, err := readFrame(br, &buf); !errors.Is(err, io.EOF) {
				t.Errorf("after the last frame: %v, want EOF", err)
			}
		})
	}
}

// TestCutStreamIsAnError checks that a stream that ends inside a frame (a worker killed
// mid-write) is an unexpected EOF, not the end; a corrupt payload is an error, never a panic or a
// huge allocation.
func TestCutStreamIsAnError(t *testing.T) {
	r := vegeta.Result{Method: "GET", URL: "http://h/", Headers: http.Header{"A": {"b"}}}
	payload := appendResult(nil, &r, time.Time{})
	full := append(appendHead(nil, frameResult, len(payload)), payload...)
	var buf []byte
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(full[:len(full)-3])), &buf); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut frame: %v, want unexpected EOF", err)
	}
	for cut := range len(payload) {
		var d decoder
		if err := d.result(payload[:cut], &vegeta.Result{}, time.Time{}); err == nil {
			t.Fatalf("payload cut at %d of %d decoded without error", cut, len(payload))
		}
	}
	huge := appendHead(nil, frameResult, maxFrame+1)
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(huge)), &buf); err == nil {
		t.Error("a frame over maxFrame was accepted")
	}
}
