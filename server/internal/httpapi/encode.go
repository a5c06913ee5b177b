package httpapi

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/benchharness/benchharness/server/internal/item"
)

// The list response is encoded by hand, not with encoding/json: it is the hot path of the
// benchmark (issue 6) and reflection over 20 items per request shows up in its profile.
// TestEncodeMatchesEncodingJSON and FuzzAppendString check it against encoding/json.

func appendPage(b []byte, items []item.Item, p item.Page) []byte {
	b = append(b, `{"items":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendItem(b, it)
	}
	b = append(b, `],"page":`...)
	b = strconv.AppendInt(b, int64(p.Number), 10)
	b = append(b, `,"per_page":`...)
	b = strconv.AppendInt(b, int64(p.Size), 10)
	return append(b, '}')
}

func appendItem(b []byte, it item.Item) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, it.ID, 10)
	b = append(b, `,"name":`...)
	b = appendString(b, it.Name)
	b = append(b, `,"description":`...)
	b = appendString(b, it.Description)
	b = append(b, `,"created_at":"`...)
	b = it.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string with encoding/json's escaping (HTML characters and
// U+2028/U+2029 included, invalid UTF-8 as U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
