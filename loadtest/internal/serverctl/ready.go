package serverctl

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DefaultReadyPaths are tried, in order, on a service that names no -ready-path.
var DefaultReadyPaths = []string{"/readyz", "/healthz"}

// readiness is how the harness tells that a service it does not know is ready.
type readiness struct {
	bases []string // base URLs to try, the admin listener first
	path  string   // "" : DefaultReadyPaths, else the one path asked for
}

// probe tries once. ready: a candidate answered 2xx (url is it), or, with no path asked
// for, every candidate answered 404 or 405 (url empty: the service listens and has no
// readiness endpoint, so an HTTP answer is all it can say). why is the last reason it was not.
func (r readiness) probe(ctx context.Context, client *http.Client) (readyURL string, ready bool, why string) {
	paths := DefaultReadyPaths
	if r.path != "" {
		paths = []string{r.path}
	}
	absent, total := 0, 0
	var notReady, other string // an endpoint that answered "not yet" says most
	for _, base := range r.bases {
		for _, p := range paths {
			total++
			u := base + p
			code, err := get(ctx, client, u)
			switch {
			case err != nil:
				other = fmt.Sprintf("GET %s: %v", u, err)
			case code >= 200 && code < 300:
				return u, true, ""
			case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
				absent++
				other = fmt.Sprintf("GET %s: status %d", u, code)
			default:
				notReady = cmp.Or(notReady, fmt.Sprintf("GET %s: status %d", u, code))
			}
		}
	}
	if r.path == "" && absent == total {
		return "", true, ""
	}
	return "", false, cmp.Or(notReady, other)
}

// get returns the status of one GET (the body discarded).
func get(ctx context.Context, client *http.Client, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitReady polls r every 50 ms until the service is ready, exited is closed (nil: never), or
// wait passes. It returns the readiness URL found ("" when the service has none).
func (r readiness) wait(ctx context.Context, wait time.Duration, exited <-chan struct{}) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	why := "no answer"
	for {
		u, ok, w := r.probe(ctx, client)
		if ok {
			return u, nil
		}
		if w != "" {
			why = w
		}
		select {
		case <-exited:
			return "", errExited
		case <-ctx.Done():
			return "", fmt.Errorf("not ready after %s (%s)", wait, why)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errExited: the process ended before it was ready; the caller knows its exit code.
var errExited = fmt.Errorf("exited before it was ready")
