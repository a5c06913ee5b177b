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
	if err := decodeFields(b, &n); err != nil {
		return item.New{}, err
	}
	if err := n.Validate(); err != nil {
		return item.New{}, err
	}
	return n, nil
}

// decodeFields reads b's one JSON object into n key by key. encoding/json matches keys
// case-insensitively and lets a repeated key win silently, so {"name":"a","NAME":"b"} was
// stored as "b", where another parser of the same body would see "a": here only the exact
// names are accepted, each at most once.
func decodeFields(b []byte, n *item.New) error {
	malformed := func(detail string) error { return &problem{http.StatusBadRequest, "malformed JSON: " + detail} }
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return malformed(jsonErrorDetail(err))
	}
	if tok != json.Delim('{') {
		return malformed("want an object")
	}
	var seen [2]bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return malformed(jsonErrorDetail(err))
		}
		key, _ := tok.(string) // in an object, More is followed by a key
		var i int
		var dst *string
		switch key {
		case "name":
			i, dst = 0, &n.Name
		case "description":
			i, dst = 1, &n.Description
		default:
			return malformed("unknown field")
		}
		if seen[i] {
			return malformed("field " + key + " given more than once")
		}
		seen[i] = true
		if err := dec.Decode(dst); err != nil {
			var typ *json.UnmarshalTypeError
			if errors.As(err, &typ) {
				return malformed("field " + key + " has the wrong type")
			}
			return malformed(jsonErrorDetail(err))
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return malformed(jsonErrorDetail(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed("data after the object")
	}
	return nil
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
