package items

import (
	"strings"
	"testing"
)

// TestTargets checks that the profile is the mix the engine sent before it came from files: GETs
// of pages 1–5 and POSTs, 4 to 1, and held requests that ask the server for the scenario's delay.
func TestTargets(t *testing.T) {
	requests, held, err := Targets()
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]int{}
	posts := 0
	for _, r := range requests {
		switch r.Method {
		case "GET":
			pages[r.URL[strings.LastIndex(r.URL, "page="):]]++
		case "POST":
			posts++
			if !strings.Contains(string(r.Body), `"name":`) || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("POST %s: body %q, header %v: want an item as JSON", r.URL, r.Body, r.Header)
			}
		}
	}
	if len(pages) != 5 || posts*4 != len(requests)-posts {
		t.Errorf("pages %v, %d POSTs of %d: want 5 pages and GET:POST 4:1", pages, posts, len(requests))
	}
	if len(held) == 0 {
		t.Fatal("no held requests")
	}
	for _, h := range held {
		if h.Header.Get("X-Bench-Delay") != "{delay}" {
			t.Errorf("held %s %s: X-Bench-Delay %q, want {delay}", h.Method, h.URL, h.Header.Get("X-Bench-Delay"))
		}
	}
}
