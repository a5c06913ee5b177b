package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/benchharness/benchharness/server/internal/apitest"
	"github.com/benchharness/benchharness/server/internal/item"
)

type page struct {
	Items   []item.Item `json:"items"`
	Page    int         `json:"page"`
	PerPage int         `json:"per_page"`
}

type problem struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Status  int    `json:"status"`
	Detail  string `json:"detail"`
	TraceID string `json:"trace_id"`
}

func decode[T any](t *testing.T, r apitest.Response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
	return v
}

func TestListPagination(t *testing.T) {
	api := apitest.New(t, apitest.Options{Seed: 45})
	tests := []struct {
		query     string
		status    int
		page, per int
		firstID   int64
		n         int
	}{
		{"", 200, 1, 20, 1, 20},
		{"?page=2", 200, 2, 20, 21, 20},
		{"?page=3", 200, 3, 20, 41, 5},
		{"?page=4", 200, 4, 20, 0, 0},
		{"?per_page=1", 200, 1, 1, 1, 1},
		{"?per_page=100", 200, 1, 100, 1, 45},
		{"?per_page=7&page=7", 200, 7, 7, 43, 3},
		{"?page=101&per_page=100", 200, 101, 100, 0, 0},    // the deepest page: OFFSET 10000
		{"?page=102&per_page=100", 400, 0, 0, 0, 0},        // OFFSET 10100
		{"?page=1000000000&per_page=100", 400, 0, 0, 0, 0}, // OFFSET 1e11
		{"?per_page=0", 400, 0, 0, 0, 0},
		{"?per_page=101", 400, 0, 0, 0, 0},
		{"?per_page=-1", 400, 0, 0, 0, 0},
		{"?per_page=abc", 400, 0, 0, 0, 0},
		{"?per_page=", 400, 0, 0, 0, 0},
		{"?per_page=2.5", 400, 0, 0, 0, 0},
		{"?per_page=1&per_page=2", 400, 0, 0, 0, 0},
		{"?page=0", 400, 0, 0, 0, 0},
		{"?page=-3", 400, 0, 0, 0, 0},
		{"?page=x", 400, 0, 0, 0, 0},
		{"?page=99999999999999999999", 400, 0, 0, 0, 0},
		{"?page=1000000001", 400, 0, 0, 0, 0},
		// As url.Query reads them: escapes decoded, a pair with ';' or a bad escape dropped.
		{"?per%5Fpage=%37&page=%37", 200, 7, 7, 43, 3},
		{"?page=2;x=1", 200, 1, 20, 1, 20},
		{"?page=%zz&per_page=5", 200, 1, 5, 1, 5},
		{"?&&per_page=5&", 200, 1, 5, 1, 5},
		{"?page=+2", 400, 0, 0, 0, 0},
		{"?per_page=abc&per_page=2", 400, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := api.Do(t, api.Request(t, "GET", "/api/v1/items"+tt.query, ""))
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			if tt.status != 200 {
				if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Fatalf("Content-Type %q, want application/problem+json", ct)
				}
				if p := decode[problem](t, r); p.Status != tt.status || p.Detail == "" {
					t.Fatalf("problem %+v", p)
				}
				return
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q, want application/json", ct)
			}
			p := decode[page](t, r)
			if p.Page != tt.page || p.PerPage != tt.per || len(p.Items) != tt.n || p.Items == nil {
				t.Fatalf("got page=%d per_page=%d %d items (nil=%v), want %d %d %d", p.Page, p.PerPage, len(p.Items), p.Items == nil, tt.page, tt.per, tt.n)
			}
			for i, it := range p.Items {
				if it.ID != tt.firstID+int64(i) || it.Name != fmt.Sprintf("item-%d", it.ID) || it.CreatedAt.IsZero() {
					t.Fatalf("item %d = %+v, want id %d", i, it, tt.firstID+int64(i))
				}
			}
		})
	}
}

func TestCreate(t *testing.T) {
	api := apitest.New(t, apitest.Options{})
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"minimal", `{"name":"a"}`, 201},
		{"with description", `{"name":"widget","description":"a fine widget"}`, 201},
		{"sql injection", `{"name":"'); DROP TABLE items;--","description":"1' OR '1'='1"}`, 201},
		{"quotes and backslashes", `{"name":"\"\\\u0000x"}`, 400}, // NUL is not storable: 400, not 500
		{"unicode", `{"name":"日本語 ✓ \u2028","description":"é"}`, 201},
		{"max name", `{"name":"` + strings.Repeat("ß", 200) + `"}`, 201},
		{"name too long", `{"name":"` + strings.Repeat("ß", 201) + `"}`, 400},
		{"description too long", `{"name":"a","description":"` + strings.Repeat("d", 2001) + `"}`, 400},
		{"missing name", `{"description":"x"}`, 400},
		{"empty name", `{"name":""}`, 400},
		{"null name", `{"name":null}`, 400},
		{"name not a string", `{"name":42}`, 400},
		{"unknown field", `{"name":"a","id":7}`, 400},
		{"array", `[{"name":"a"}]`, 400},
		{"two objects", `{"name":"a"}{"name":"b"}`, 400},
		{"trailing garbage", `{"name":"a"} x`, 400},
		{"null", `null`, 400},
		{"empty body", ` `, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := api.Do(t, api.Request(t, "POST", "/api/v1/item", tt.body))
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			if tt.status != 201 {
				return
			}
			var want item.New
			if err := json.Unmarshal([]byte(tt.body), &want); err != nil {
				t.Fatal(err)
			}
			got := decode[item.Item](t, r)
			if got.ID == 0 || got.Name != want.Name || got.Description != want.Description || time.Since(got.CreatedAt) > time.Hour {
				t.Fatalf("created %+v from %s", got, tt.body)
			}
			// Stored verbatim: read it back through the list.
			l := api.Do(t, api.Request(t, "GET", "/api/v1/items?per_page=100", ""))
			found := false
			for _, it := range decode[page](t, l).Items {
				if it.ID == got.ID {
					found = it.Name == want.Name && it.Description == want.Description && it.CreatedAt.Equal(got.CreatedAt)
				}
			}
			if !found {
				t.Fatalf("item %d not listed verbatim", got.ID)
			}
		})
	}
}

func TestHostileInput(t *testing.T) {
	api := apitest.New(t, apitest.Options{})
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
	}{
		{"10 MiB body", "application/json", `{"name":"` + strings.Repeat("a", 10<<20) + `"}`, 413},
		{"just over the limit", "application/json", `{"name":"a","description":"` + strings.Repeat("a", 1<<20) + `"}`, 413},
		{"malformed", "application/json", `{"name":`, 400},
		{"not json", "application/json", `name=a`, 400},
		{"deeply nested", "application/json", deep, 400},
		{"deeply nested in a field", "application/json", `{"name":"a","x":` + deep + `}`, 400},
		{"invalid utf-8", "application/json", "{\"name\":\"a\xff\xfe\"}", 400},
		{"lone surrogate escape", "application/json", `{"name":"\udc00"}`, 201}, // decoded as U+FFFD, valid text
		{"key in capitals beside the real one", "application/json", `{"name":"a","NAME":"b"}`, 400},
		{"key in capitals alone", "application/json", `{"Name":"a"}`, 400},
		{"key given twice", "application/json", `{"name":"a","name":"b"}`, 400},
		{"escaped key", "application/json", `{"n\u0061me":"a"}`, 201}, // the same key, spelled with an escape
		{"not an object", "application/json", `"a"`, 400},
		{"text/plain", "text/plain", `{"name":"a"}`, 415},
		{"no content type", "", `{"name":"a"}`, 415},
		{"xml", "application/xml", `<name>a</name>`, 415},
		{"latin1 charset", "application/json; charset=iso-8859-1", `{"name":"a"}`, 415},
		{"utf-8 charset", "application/json; charset=UTF-8", `{"name":"a"}`, 201},
		{"bad media type", "application/json; ;;", `{"name":"a"}`, 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := api.Request(t, "POST", "/api/v1/item", tt.body)
			req.Header.Set("Content-Type", tt.contentType)
			if tt.contentType == "" {
				req.Header.Del("Content-Type")
			}
			resp, err := api.Server.Client().Do(req)
			if err != nil {
				// The server may close the connection while a huge body is still being sent:
				// the status was written first, so Go's client normally still reports it.
				t.Fatalf("POST: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 500 || resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
	// Hostile query strings and paths: never a 5xx.
	if r := api.Do(t, api.Request(t, "GET", "/debug/pprof/", "")); r.Status != 404 {
		t.Errorf("the API serves /debug/pprof/ (%d): pprof belongs on the admin listener only", r.Status)
	}
	for _, path := range []string{"/api/v1/items?page=%00", "/api/v1/items?per_page=%ff", "/api/v1/items?page=1;DROP", "/api/v1/items/../item", "/api/v1/%2e%2e/items"} {
		r := api.Do(t, api.Request(t, "GET", path, ""))
		if r.Status >= 500 || r.Status == 200 && !strings.HasPrefix(path, "/api/v1/items?") {
			t.Errorf("GET %s: status %d", path, r.Status)
		}
	}
}

func TestAuthOverHTTP(t *testing.T) {
	api := apitest.New(t, apitest.Options{Issuer: "bench"})
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := time.Now().Add(time.Hour).Unix()
	tests := []struct {
		name, header string
		status       int
		wwwAuth      string
	}{
		{"valid", "Bearer " + api.Token, 200, ""},
		{"none", "", 401, `Bearer realm="items"`},
		{"malformed", "Bearer abc", 401, `Bearer realm="items", error="invalid_token"`},
		{"wrong signature", "Bearer " + sign(jwt.SigningMethodHS256, []byte("x-other-secret-0123456789abcdef-0123"), jwt.MapClaims{"sub": "a", "exp": exp, "iss": "bench"}), 401, `Bearer realm="items", error="invalid_token"`},
		{"alg none", "Bearer " + sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "a", "exp": exp, "iss": "bench"}), 401, `Bearer realm="items", error="invalid_token"`},
		{"expired", "Bearer " + sign(jwt.SigningMethodHS256, []byte(apitest.Secret), jwt.MapClaims{"sub": "a", "exp": time.Now().Add(-time.Hour).Unix(), "iss": "bench"}), 401, `Bearer realm="items", error="invalid_token"`},
		{"wrong issuer", "Bearer " + sign(jwt.SigningMethodHS256, []byte(apitest.Secret), jwt.MapClaims{"sub": "a", "exp": exp, "iss": "other"}), 401, `Bearer realm="items", error="invalid_token"`},
		{"exp as string", "Bearer " + sign(jwt.SigningMethodHS256, []byte(apitest.Secret), jwt.MapClaims{"sub": "a", "exp": "9999999999", "iss": "bench"}), 401, `Bearer realm="items", error="invalid_token"`},
		// Unsigned content must not come back: the claims are decoded before the signature is
		// checked, and their errors quote them.
		{"hostile unsigned claim", "Bearer " + unsigned(`{"sub":"a","exp":"HOSTILE-CLAIM<script>","iss":"bench"}`), 401, `Bearer realm="items", error="invalid_token"`},
	}
	for _, tt := range tests {
		for _, route := range []struct{ method, path, body string }{{"GET", "/api/v1/items", ""}, {"POST", "/api/v1/item", `{"name":"a"}`}} {
			t.Run(tt.name+" "+route.method, func(t *testing.T) {
				req := api.Request(t, route.method, route.path, route.body)
				req.Header.Set("Authorization", tt.header)
				r := api.Do(t, req)
				want := tt.status
				if want == 200 && route.method == "POST" {
					want = 201
				}
				if r.Status != want || r.Header.Get("WWW-Authenticate") != tt.wwwAuth {
					t.Fatalf("status %d WWW-Authenticate %q, want %d %q", r.Status, r.Header.Get("WWW-Authenticate"), want, tt.wwwAuth)
				}
				if strings.Contains(string(r.Body), "eyJ") {
					t.Fatalf("response echoes the token: %s", r.Body)
				}
				if want == 401 && !bytes.Contains(r.Body, []byte(`"detail":"missing bearer token"`)) &&
					!bytes.Contains(r.Body, []byte(`"detail":"invalid bearer token"`)) {
					t.Fatalf("401 body %s: want a fixed reason, nothing from the token", r.Body)
				}
			})
		}
	}
	// 401s are labelled with their route, never "unmatched" or a raw URL.
	var want401 float64
	for _, tt := range tests {
		if tt.status == 401 {
			want401++
		}
	}
	if got := api.Metric(t, "http_server_request_duration_seconds", map[string]string{"route": "/api/v1/items", "status": "401"}); got != want401 {
		t.Fatalf("401s on /api/v1/items = %v, want %v", got, want401)
	}
}

// unsigned is a token with payload as its claims and a signature that verifies nothing.
func unsigned(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + "." + enc([]byte("not a signature"))
}

var traceresponseRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`)

func TestTraceHeaders(t *testing.T) {
	api := apitest.New(t, apitest.Options{})
	const parent = "4bf92f3577b34da6a3ce929d0e0e4736"
	tests := []struct {
		name, method, path, body string
		auth                     bool
		traceparent              string
		status                   int
	}{
		{"list", "GET", "/api/v1/items", "", true, "", 200},
		{"create", "POST", "/api/v1/item", `{"name":"a"}`, true, "", 201},
		{"honours traceparent", "GET", "/api/v1/items", "", true, "00-" + parent + "-00f067aa0ba902b7-01", 200},
		{"401", "GET", "/api/v1/items", "", false, "", 401},
		{"400", "GET", "/api/v1/items?page=0", "", true, "", 400},
		{"404", "GET", "/nope", "", true, "", 404},
		{"405", "DELETE", "/api/v1/items", "", true, "", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := api.Request(t, tt.method, tt.path, tt.body)
			if !tt.auth {
				req.Header.Del("Authorization")
			}
			if tt.traceparent != "" {
				req.Header.Set("traceparent", tt.traceparent)
			}
			r := api.Do(t, req)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d", r.Status, tt.status)
			}
			m := traceresponseRE.FindStringSubmatch(r.Header.Get("traceresponse"))
			if m == nil {
				t.Fatalf("traceresponse %q is not 00-<trace>-<span>-<flags>", r.Header.Get("traceresponse"))
			}
			if r.Header.Get("X-Trace-Id") != m[1] {
				t.Fatalf("X-Trace-Id %q != traceresponse trace id %q", r.Header.Get("X-Trace-Id"), m[1])
			}
			if tt.traceparent != "" && m[1] != parent {
				t.Fatalf("trace id %s, want the incoming %s", m[1], parent)
			}
			if tt.traceparent != "" && m[2] == "00f067aa0ba902b7" {
				t.Fatalf("span id is the parent's: the server must start its own span")
			}
		})
	}
}

func TestBenchDelay(t *testing.T) {
	on := apitest.New(t, apitest.Options{BenchDelay: true})
	off := apitest.New(t, apitest.Options{})
	tests := []struct {
		name    string
		api     *apitest.API
		header  string
		status  int
		atLeast time.Duration
	}{
		{"on, 300ms", on, "300ms", 200, 300 * time.Millisecond},
		{"on, zero", on, "0s", 200, 0},
		{"on, garbage", on, "soon", 400, 0},
		{"on, negative", on, "-1s", 400, 0},
		{"on, no unit", on, "250", 400, 0},
		{"off, garbage ignored", off, "soon", 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.api.Request(t, "GET", "/api/v1/items", "")
			req.Header.Set("X-Bench-Delay", tt.header)
			start := time.Now()
			r := tt.api.Do(t, req)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			// A lower bound only (an upper bound would be a timed assertion on a loaded machine).
			if el := time.Since(start); el < tt.atLeast {
				t.Fatalf("took %s, want at least %s", el, tt.atLeast)
			}
		})
	}
	// The delay is a pg_sleep inside PostgreSQL, visible in pg_stat_activity while it runs.
	done := make(chan apitest.Response, 1)
	go func() {
		req := on.Request(t, "POST", "/api/v1/item", `{"name":"slow"}`)
		req.Header.Set("X-Bench-Delay", "2s")
		resp, err := on.Server.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			done <- apitest.Response{Status: resp.StatusCode}
		}
		close(done)
	}()
	apitest.Eventually(t, 5*time.Second, func() bool { return on.ActiveSleeps(t) == 1 }, "no pg_sleep in pg_stat_activity")
	if r := <-done; r.Status != 201 {
		t.Fatalf("delayed POST: status %d, want 201", r.Status)
	}
}
