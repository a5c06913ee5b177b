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
// U+FFFD), malformed or nested JSON, unknown fields, trailing data, or an invalid item.
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
	if err := n.Validate(); err != nil {
		return item.New{}, err
	}
	return n, nil
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
