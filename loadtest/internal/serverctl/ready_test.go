package serverctl

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestReadiness: a service is ready when its readiness path answers 2xx (that URL is watched
// later), or, with no path asked for, when every default path answers 404 (it has none); a 503
// keeps the harness waiting until it gives up, naming the last answer.
func TestReadiness(t *testing.T) {
	tests := []struct {
		name      string
		routes    map[string]int // path → status; others 404
		path      string         // -ready-path
		wantReady bool
		wantURL   string // path of the URL found
		wantWhy   string
	}{
		{name: "readyz", routes: map[string]int{"/readyz": 200, "/healthz": 200}, wantReady: true, wantURL: "/readyz"},
		{name: "healthz only", routes: map[string]int{"/healthz": 204}, wantReady: true, wantURL: "/healthz"},
		{name: "neither: the first HTTP answer", routes: nil, wantReady: true, wantURL: ""},
		{name: "not ready yet", routes: map[string]int{"/readyz": 503}, wantWhy: "/readyz: status 503"},
		{name: "asked-for path", routes: map[string]int{"/ping": 200, "/readyz": 200}, path: "/ping", wantReady: true, wantURL: "/ping"},
		{name: "asked-for path absent", routes: map[string]int{"/readyz": 200}, path: "/ping", wantWhy: "/ping: status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				code, ok := tt.routes[r.URL.Path]
				if !ok {
					code = http.StatusNotFound
				}
				w.WriteHeader(code)
			}))
			defer srv.Close()
			u, err := readiness{bases: []string{srv.URL}, path: tt.path}.wait(context.Background(), 300*time.Millisecond, nil)
			switch {
			case tt.wantReady && (err != nil || u != urlOrEmpty(srv.URL, tt.wantURL)):
				t.Errorf("wait = %q, %v; want ready at %q", u, err, urlOrEmpty(srv.URL, tt.wantURL))
			case !tt.wantReady && (err == nil || !strings.Contains(err.Error(), tt.wantWhy) || !strings.Contains(err.Error(), "not ready after 300ms")):
				t.Errorf("wait = %q, %v; want not ready, naming %q", u, err, tt.wantWhy)
			}
		})
	}
}

func urlOrEmpty(base, path string) string {
	if path == "" {
		return ""
	}
	return base + path
}
