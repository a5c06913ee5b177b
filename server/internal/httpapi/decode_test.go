package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/benchharness/benchharness/server/internal/item"
	"github.com/benchharness/benchharness/server/internal/postgres"
)

// FuzzDecodeNewItem: whatever the body and content type, decoding either yields a valid item
// that round-trips, or an error that maps to a 4xx; never a panic, never a 5xx.
func FuzzDecodeNewItem(f *testing.F) {
	seeds := []struct{ ct, body string }{
		{"application/json", `{"name":"a","description":"b"}`},
		{"application/json", `{"name":"'); DROP TABLE items;--"}`},
		{"application/json; charset=utf-8", `{"name":"日本"}`},
		{"application/json", `{"name":"a\u0000"}`},
		{"application/json", "{\"name\":\"\xff\"}"},
		{"application/json", `{"name":"\ud800"}`},
		{"application/json", `[[[[[[[[[[]]]]]]]]]]`},
		{"application/json", `{"name":"a"} {}`},
		{"application/json", `{"name":1}`},
		{"application/json", `{"name":"a","extra":true}`},
		{"application/json", `{"name":"a","NAME":"b"}`},
		{"application/json", `{"name":"a","name":"b"}`},
		{"application/json", `{"n\u0061me":"a" , "description" : null }`},
		{"application/json", `{"deſcription":"K","name":"a"}`},
		{"application/json", `null`},
		{"application/json", ``},
		{"text/plain", `{"name":"a"}`},
		{"", `{"name":"a"}`},
		{"application/json; charset=latin1", `{"name":"a"}`},
		{"application/json", `{"name":"` + strings.Repeat("x", 300) + `"}`},
	}
	for _, s := range seeds {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		const limit = 4096
		rec := &discardWriter{h: http.Header{}}
		n, err := decodeNewItem(ct, http.MaxBytesReader(rec, readCloser{bytes.NewReader(body)}, limit))
		if err != nil {
			code, _ := status(httptestRequest(), err)
			if code < 400 || code >= 500 {
				t.Fatalf("decode error %v maps to %d, want 4xx", err, code)
			}
			return
		}
		if err := n.Validate(); err != nil {
			t.Fatalf("decoded item does not validate: %v", err)
		}
		var keys map[string]json.RawMessage // a map's keys match exactly
		if err := json.Unmarshal(body, &keys); err != nil {
			t.Fatalf("accepted a body that is not a JSON object: %v", err)
		}
		for k := range keys {
			if k != "name" && k != "description" {
				t.Fatalf("accepted the key %q", k)
			}
		}
		if !utf8.ValidString(n.Name) || !utf8.ValidString(n.Description) {
			t.Fatalf("decoded invalid UTF-8")
		}
		b, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeNewItem("application/json", bytes.NewReader(b))
		if err != nil || again != n {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, n)
		}
	})
}

func TestStatusMapping(t *testing.T) {
	r := httptestRequest()
	tests := []struct {
		err  error
		want int
	}{
		{&problem{http.StatusUnsupportedMediaType, "x"}, 415},
		{&item.ValidationError{Field: "name", Reason: "x"}, 400},
		{errors.New("boom"), 500},
		{fmt.Errorf("list items page 1: %w", postgres.ErrBusy), 503},
		{fmt.Errorf("list items page 1: %w", context.DeadlineExceeded), 503},
	}
	for _, tt := range tests {
		if got, _ := status(r, tt.err); got != tt.want {
			t.Errorf("status(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestEncodeMatchesEncodingJSON: the hand-written encoder produces what encoding/json would.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	ts := time.Date(2026, 11, 25, 2, 3, 4, 500600700, time.UTC)
	items := []item.Item{
		{ID: 1, Name: "plain", Description: "", CreatedAt: ts},
		{ID: 1 << 40, Name: "quote \" backslash \\ slash / tab \t nl \n cr \r", Description: "ctl \x01\x1f del \x7f", CreatedAt: ts.Add(time.Hour)},
		{ID: 3, Name: "<script>&amp;</script>", Description: "\u2028\u2029 日本 é 😀", CreatedAt: ts},
		{ID: 4, Name: "bad \xff utf8 \xc3", Description: "x", CreatedAt: ts.Truncate(time.Second)},
	}
	p := item.Page{Number: 2, Size: 4}
	want, err := json.Marshal(struct {
		Items   []item.Item `json:"items"`
		Page    int         `json:"page"`
		PerPage int         `json:"per_page"`
	}{items, p.Number, p.Size})
	if err != nil {
		t.Fatal(err)
	}
	if got := appendPage(nil, items, p); !bytes.Equal(got, want) {
		t.Fatalf("appendPage:\n got %s\nwant %s", got, want)
	}
	if got := appendPage(nil, []item.Item{}, p); string(got) != `{"items":[],"page":2,"per_page":4}` {
		t.Fatalf("empty page: %s", got)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\x1f", "<>&", "\u2028", "\xff", "日本", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

func httptestRequest() *http.Request {
	r, _ := http.NewRequest("POST", "/api/v1/item", nil)
	return r
}
