package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/benchharness/benchharness/server/internal/item"
)

// listItems: GET /api/v1/items?page=P&per_page=N.
func (a *api) listItems(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		a.error(w, r, err)
		return
	}
	delay, err := a.delay(r)
	if err != nil {
		a.error(w, r, err)
		return
	}
	ctx, cancel := a.queryContext(r)
	defer cancel()
	items, err := a.store.List(ctx, p, delay)
	if err != nil {
		a.error(w, r, err)
		return
	}
	buf := a.getBuf()
	defer a.putBuf(buf)
	*buf = appendPage(*buf, items, p)
	writeJSON(w, http.StatusOK, *buf)
}

// createItem: POST /api/v1/item.
func (a *api) createItem(w http.ResponseWriter, r *http.Request) {
	n, err := decodeNewItem(r.Header.Get("Content-Type"), http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		a.error(w, r, err)
		return
	}
	delay, err := a.delay(r)
	if err != nil {
		a.error(w, r, err)
		return
	}
	ctx, cancel := a.queryContext(r)
	defer cancel()
	it, err := a.store.Create(ctx, n, delay)
	if err != nil {
		a.error(w, r, err)
		return
	}
	buf := a.getBuf()
	defer a.putBuf(buf)
	*buf = appendItem(*buf, it)
	writeJSON(w, http.StatusCreated, *buf)
}

// queryContext is the request's context with the request deadline, detached from the client's
// cancellation under ignore-cancel (the server's own deadline still holds). The deadline is
// not on r itself: status tells a client that went away (499) from the deadline (503) by r.
func (a *api) queryContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx := r.Context()
	if a.faults.IgnoreCancel {
		ctx = context.WithoutCancel(ctx)
	}
	return context.WithTimeout(ctx, a.timeout)
}

// parsePage reads page and per_page; absent means the default, anything not an integer in range
// is a 400. It reads the raw query as url.Values would (pairs split on '&', escapes decoded, a
// pair holding ';' or a bad escape dropped) without building the map: url.Query was 4 of the
// list route's allocations per request.
func parsePage(r *http.Request) (item.Page, error) {
	var number, size param
	for q := r.URL.RawQuery; q != ""; {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := unescape(k)
		v, err2 := unescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		switch k {
		case "page":
			number.add(v)
		case "per_page":
			size.add(v)
		}
	}
	n, err := number.int("page", 1)
	if err != nil {
		return item.Page{}, err
	}
	sz, err := size.int("per_page", item.DefaultPerPage)
	if err != nil {
		return item.Page{}, err
	}
	return item.NewPage(n, sz)
}

// param is one query parameter: its first value and how many times it was given.
type param struct {
	first string
	count int
}

func (p *param) add(v string) {
	if p.count == 0 {
		p.first = v
	}
	p.count++
}

func (p param) int(name string, def int) (int, error) {
	switch p.count {
	case 0:
		return def, nil
	case 1:
	default:
		return 0, &item.ValidationError{Field: name, Reason: "given more than once"}
	}
	n, err := strconv.Atoi(p.first)
	if err != nil {
		return 0, &item.ValidationError{Field: name, Reason: "must be an integer"}
	}
	return n, nil
}

// unescape decodes a query component, allocating only when it holds an escape.
func unescape(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// delay reads X-Bench-Delay when BENCH_DELAY=on, capped at a.maxDelay; otherwise the header is
// ignored.
func (a *api) delay(r *http.Request) (time.Duration, error) {
	if !a.benchDelay {
		return 0, nil
	}
	v := r.Header.Get("X-Bench-Delay")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, &problem{http.StatusBadRequest, "X-Bench-Delay: want a non-negative Go duration such as 250ms"}
	}
	return min(d, a.maxDelay), nil
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// getBuf returns a response buffer from a.bufs: a page of 20 items is ~2 KiB, rebuilt on every
// request, so reusing buffers saves an allocation and its garbage per request.
func (a *api) getBuf() *[]byte {
	if b, ok := a.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4096)
	return &b
}

func (a *api) putBuf(b *[]byte) {
	if cap(*b) > 1<<20 { // do not keep rare huge buffers alive
		return
	}
	*b = (*b)[:0]
	a.bufs.Put(b)
}
