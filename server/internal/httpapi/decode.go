package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/benchharness/benchharness/server/internal/item"
)

// decodeNewItem reads and validates a POST /api/v1/item body. Every failure is a 4xx: 415 for a
// content type other than JSON, 413 above the body limit (body is expected to be wrapped in
// http.MaxBytesReader), 400 for invalid UTF-8 (encoding/json would silently replace it with
// U+FFFD), malformed or nested JSON, unknown or repeated fields, trailing data, or an invalid
// item.
func decodeNewItem(contentType string, body io.Reader) (item.New, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return item.New{}, &problem{http.StatusUnsupportedMediaType, "Content-Type must be application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return item.New{}, &problem{http.StatusUnsupportedMediaType, "charset must be utf-8"}
	}
	b, err := io.ReadAll(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return item.New{}, &problem{http.StatusRequestEntityTooLarge, "request body too large"}
		}
		return item.New{}, &problem{http.StatusBadRequest, "could not read request body"}
	}
	if !utf8.Valid(b) {
		return item.New{}, &problem{http.StatusBadRequest, "request body is not valid UTF-8"}
	}
	var n item.New
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return item.New{}, &problem{http.StatusBadRequest, "malformed JSON: " + jsonErrorDetail(err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return item.New{}, &problem{http.StatusBadRequest, "malformed JSON: data after the object"}
	}
	if err := exactKeys(b); err != nil {
		return item.New{}, err
	}
	if err := n.Validate(); err != nil {
		return item.New{}, err
	}
	return n, nil
}

// exactKeys checks the top-level keys of b, a JSON object that encoding/json has already
// decoded into an item.New without error, so every key matches name or description ignoring
// case, and every value is a string or null. encoding/json matches keys case-insensitively and
// lets a repeated key win silently: {"name":"a","NAME":"b"} was stored as "b", where another
// parser of the same body reads "a". Only the exact names are accepted, each at most once. It
// walks the bytes rather than decoding tokens, which cost the POST route 19 allocations; it
// allocates nothing for a valid body.
func exactKeys(b []byte) error {
	malformed := func() error { return &problem{http.StatusBadRequest, "malformed JSON: want an object"} }
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' { // null, which decodes into a struct without error
		return malformed()
	}
	var seen [2]bool
	for i++; ; {
		// The index checks never fail on what encoding/json accepted; they keep a mistake a
		// 400 rather than a panic.
		if i = skipSpace(b, i); i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		if i >= len(b) {
			return malformed()
		}
		if b[i] == '}' {
			return nil
		}
		end := stringEnd(b, i)
		k, name := field(b[i:end])
		switch {
		case k < 0:
			return &problem{http.StatusBadRequest, "malformed JSON: unknown field (keys are case-sensitive)"}
		case seen[k]:
			return &problem{http.StatusBadRequest, "malformed JSON: field " + name + " given more than once"}
		}
		seen[k] = true
		if i = skipSpace(b, skipSpace(b, end)+1); i >= len(b) { // past ':'
			return malformed()
		}
		if b[i] == '"' {
			i = stringEnd(b, i)
			continue
		}
		for i < len(b) && !strings.ContainsRune(",} \t\r\n", rune(b[i])) {
			i++ // null
		}
	}
}

// field returns the index (0 or 1) and name of the item.New key quoted (a JSON string, quotes
// included), or -1. An escaped key (rare) is compared by what it means.
func field(quoted []byte) (int, string) {
	raw := quoted
	if len(raw) >= 2 {
		raw = raw[1 : len(raw)-1]
	}
	if bytes.IndexByte(raw, '\\') >= 0 {
		var s string
		if json.Unmarshal(quoted, &s) != nil {
			return -1, ""
		}
		raw = []byte(s)
	}
	switch string(raw) {
	case "name":
		return 0, "name"
	case "description":
		return 1, "description"
	}
	return -1, ""
}

// skipSpace returns the index of the first byte at or after i that is not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string that starts at b[i] ('"').
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// jsonErrorDetail keeps the decoder's message short and free of the body's content.
func jsonErrorDetail(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "syntax error"
	case errors.As(err, &typ):
		return "field " + typ.Field + " has the wrong type"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return "unknown field"
	}
	return "invalid"
}
