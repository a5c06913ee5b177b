package attack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestParseTargets(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "body.json"), []byte(`{"text":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		src      string
		wantURLs []string
		wantBody string // of the last target
		wantErr  string
	}{
		{name: "http format, body relative to the file", src: "GET http://svc/a\n\nPOST http://svc/b\nContent-Type: application/json\n@body.json\n",
			wantURLs: []string{"http://svc/a", "http://svc/b"}, wantBody: `{"text":"x"}`},
		{name: "json format", src: `{"method":"GET","url":"http://svc/slow?d={delay}"}` + "\n" + `{"method":"POST","url":"http://svc/b","body":"eyJ0ZXh0IjoieCJ9"}` + "\n",
			wantURLs: []string{"http://svc/slow?d={delay}", "http://svc/b"}, wantBody: `{"text":"x"}`},
		{name: "not a target", src: "FETCH me the data\n", wantErr: "does not parse"},
		{name: "relative URL", src: "GET /a\n", wantErr: "not an absolute http(s) URL"},
		{name: "json, not http", src: `{"method":"GET","url":"ftp://svc/a"}` + "\n", wantErr: "not an absolute http(s) URL"},
		{name: "empty", src: "\n\n", wantErr: "no targets"},
		{name: "missing body", src: "POST http://svc/b\n@nope.json\n", wantErr: "line 2: body: open nope.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTargets(strings.NewReader(tt.src), os.DirFS(dir))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTargets = %+v, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var urls []string
			for _, tg := range got {
				urls = append(urls, tg.URL)
			}
			if strings.Join(urls, " ") != strings.Join(tt.wantURLs, " ") || string(got[len(got)-1].Body) != tt.wantBody {
				t.Errorf("targets %+v; want urls %v, last body %q", got, tt.wantURLs, tt.wantBody)
			}
		})
	}
}

// TestFileMix: a targets file's mix is drawn by seed (the same seed, the same sequence), a target
// listed twice is drawn about twice as often, the host is the server's, and the held ones carry
// the hold time and the held mark.
func TestFileMix(t *testing.T) {
	requests := []vegeta.Target{{Method: "GET", URL: "http://svc/a"}, {Method: "GET", URL: "http://svc/a"}, {Method: "POST", URL: "http://svc/b", Body: []byte("{}")}}
	held := []vegeta.Target{{Method: "GET", URL: "http://svc/slow?d={delay}", Header: map[string][]string{"X-Wait": {"{delay}"}}}}
	opts := TargetOptions{BaseURL: "http://127.0.0.1:9999", Seed: 7, Requests: requests, Held: held, DelayShare: 0.1, Delay: 3 * time.Second}
	seq := func() []string {
		tr := NewTargeter(opts)
		var out []string
		for range 3000 {
			var tg vegeta.Target
			if err := tr(&tg); err != nil {
				t.Fatal(err)
			}
			out = append(out, tg.Method+" "+StripNotes(tg.URL))
			if Delayed(&vegeta.Result{URL: tg.URL}) != strings.Contains(tg.URL, "/slow") {
				t.Fatalf("%s: held mark and held target disagree", tg.URL)
			}
			if strings.Contains(tg.URL, "/slow") && (tg.Header.Get("X-Wait") != "3s" || !strings.Contains(tg.URL, "d=3s")) {
				t.Fatalf("held target %s %v: want the hold time in place of {delay}", tg.URL, tg.Header)
			}
		}
		return out
	}
	a, b := seq(), seq()
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Fatal("the same seed gave two different mixes")
	}
	n := map[string]int{}
	for _, s := range a {
		n[s]++
	}
	gets, posts, slow := n["GET http://127.0.0.1:9999/a"], n["POST http://127.0.0.1:9999/b"], n["GET http://127.0.0.1:9999/slow?d=3s"]
	if gets+posts+slow != len(a) {
		t.Fatalf("mix %v: want every target on the server's host", n)
	}
	if r := float64(gets) / float64(posts); r < 1.7 || r > 2.3 {
		t.Errorf("GET/POST = %d/%d = %.2f, want ≈ 2 (listed twice)", gets, posts, r)
	}
	if share := float64(slow) / float64(len(a)); share < 0.07 || share > 0.13 {
		t.Errorf("held share %.3f, want ≈ 0.1", share)
	}
}

// testMix is a mix for tests whose server answers any request: GETs and POSTs, 4 to 1 by
// repetition; testGets only GETs. testHeld is their held request, the delay in the header the test servers read.
var (
	testMix = []vegeta.Target{
		{Method: "GET", URL: "http://svc/items"}, {Method: "GET", URL: "http://svc/items"},
		{Method: "GET", URL: "http://svc/items"}, {Method: "GET", URL: "http://svc/items"},
		{Method: "POST", URL: "http://svc/item", Body: []byte(`{"name":"x"}`)},
	}
	testGets = []vegeta.Target{{Method: "GET", URL: "http://svc/items"}}
	testHeld = []vegeta.Target{{Method: "GET", URL: "http://svc/items", Header: map[string][]string{"X-Bench-Delay": {DelayPlaceholder}}}}
)
