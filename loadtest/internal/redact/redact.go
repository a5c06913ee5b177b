// Package redact removes credentials from what the harness records or prints: every setting,
// event, reason and error goes through String (or Value, for a whole summary) before it reaches
// a run folder, a report, stdout or stderr.
//
//	run = redact.Value(run, token) // before the run folder is written and the table printed
//	fmt.Fprintln(stderr, redact.String(err.Error()))
//
// It recognises credentials by form, not by where they came from, so an error that quotes a
// connection string is cleaned as well as the setting itself:
//   - a URL's userinfo password (scheme://user:PASSWORD@host), also in a URL that does not
//     parse (a bad escape, a stray character): the userinfo runs to the last @ of the word;
//   - key=value pairs whose key names a secret (password, pwd, secret, token, key, auth,
//     credential, signature, in any case and inside a longer name): a query string's
//     ?password=, a keyword/value DSN's password='...', an environment's JWT_SECRET=;
//   - literal secrets the caller knows (the bearer token).
//
// Each becomes xxxxx. It errs towards hiding too much: a key like monkey=1 loses its value.
package redact

import (
	"reflect"
	"regexp"
	"strings"
)

// Mask replaces every credential.
const Mask = "xxxxx"

// secretKey is a key=value pair whose key names a secret. The key starts after white space,
// a separator of a query string, DSN or K=V list, or a quote; the value is a quoted string or
// runs to white space, &, ; or a quote (a comma may be part of a password).
var secretKey = regexp.MustCompile(`(?i)((?:^|[\s?&;,(='"{\[])[a-z0-9_.\-]*(?:pass|pwd|secret|token|key|auth|credential|signature)[a-z0-9_.\-]*\s*=\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s&;'"]*)`)

// scheme starts a URL.
var scheme = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://`)

// String returns s with every credential it recognises, and every non-empty literal secret,
// replaced by Mask.
func String(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, Mask)
		}
	}
	s = userinfo(s)
	return secretKey.ReplaceAllStringFunc(s, func(m string) string {
		sub := secretKey.FindStringSubmatch(m)
		if sub[2] == "" || sub[2] == Mask {
			return m
		}
		return sub[1] + Mask
	})
}

// userinfo masks the password of every scheme://user:password@ in s. The word after the
// scheme ends at white space or a quote; its userinfo runs to the word's last @ before a ?,
// so a password holding @, / or # is masked whole, parsable or not.
func userinfo(s string) string {
	var b strings.Builder
	for {
		loc := scheme.FindStringIndex(s)
		if loc == nil {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:loc[1]])
		s = s[loc[1]:]
		word := s
		if end := strings.IndexAny(word, " \t\r\n'\"`<>"); end >= 0 {
			word = word[:end]
		}
		authority := word
		if q := strings.IndexByte(authority, '?'); q >= 0 {
			authority = authority[:q]
		}
		at := strings.LastIndexByte(authority, '@')
		colon := strings.IndexByte(authority, ':')
		if at < 0 || colon < 0 || colon > at {
			continue // no password: user@host, or host:port
		}
		b.WriteString(s[:colon+1])
		b.WriteString(Mask)
		s = s[at:]
	}
}

// Value returns a deep copy of v with every exported string in it (struct fields, slice and
// array elements, map values, behind pointers) passed through String: what a summary holds
// before it is written or printed.
func Value[T any](v T, secrets ...string) T {
	in := reflect.ValueOf(&v).Elem()
	out := reflect.New(in.Type()).Elem()
	walk(out, in, func(s string) string { return String(s, secrets...) })
	return out.Interface().(T)
}

// walk sets dst, a settable value of src's type, to a copy of src with f applied to every
// string it can reach. Unexported fields are copied as they are (time.Time's, for example).
func walk(dst, src reflect.Value, f func(string) string) {
	switch src.Kind() {
	case reflect.String:
		dst.SetString(f(src.String()))
	case reflect.Struct:
		dst.Set(src)
		for i := range src.NumField() {
			if src.Type().Field(i).IsExported() {
				walk(dst.Field(i), src.Field(i), f)
			}
		}
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Elem().Type())
		walk(p.Elem(), src.Elem(), f)
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			walk(s.Index(i), src.Index(i), f)
		}
		dst.Set(s)
	case reflect.Array:
		for i := range src.Len() {
			walk(dst.Index(i), src.Index(i), f)
		}
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			e := reflect.New(src.Type().Elem()).Elem()
			walk(e, it.Value(), f)
			m.SetMapIndex(it.Key(), e)
		}
		dst.Set(m)
	case reflect.Interface:
		if src.IsNil() {
			return
		}
		e := reflect.New(src.Elem().Type()).Elem()
		walk(e, src.Elem(), f)
		dst.Set(e)
	default:
		dst.Set(src)
	}
}

// Each returns String of every element of list, in a new slice.
func Each(list []string, secrets ...string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = String(s, secrets...)
	}
	return out
}
