package profile

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// adminMux serves the runtime's real pprof endpoints the way the server's admin listener does.
func adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	return mux
}

//go:noinline
func burnCPU(stop <-chan struct{}) int {
	n := 0
	for {
		select {
		case <-stop:
			return n
		default:
		}
		for i := range 100000 {
			n += i * i % 7
		}
	}
}

func TestCaptureAndTop(t *testing.T) {
	srv := httptest.NewServer(adminMux())
	defer srv.Close()
	stop := make(chan struct{})
	done := make(chan int)
	go func() { done <- burnCPU(stop) }()
	dir := t.TempDir()
	got, err := Capture(context.Background(), srv.URL, dir, "steady", time.Second)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(Kinds) {
		t.Fatalf("Capture wrote %d profiles, want %d: %+v", len(got), len(Kinds), got)
	}
	for i, p := range got {
		if p.Kind != Kinds[i] || p.File != "steady."+Kinds[i]+".pprof" {
			t.Errorf("profile %d = %+v", i, p)
		}
		if _, err := os.Stat(filepath.Join(dir, p.File)); err != nil {
			t.Error(err)
		}
	}
	top, err := Top(filepath.Join(dir, "steady.cpu.pprof"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) == 0 || !strings.HasSuffix(top[0].Name, ".burnCPU") {
		t.Fatalf("top function = %+v, want burnCPU first", top)
	}
	if top[0].FlatPct < 50 || top[0].FlatPct > 100 || top[0].CumMs < top[0].FlatMs {
		t.Errorf("burnCPU figures %+v: want most of the flat time and cum ≥ flat", top[0])
	}
}

func TestCaptureRefusesNonProfile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>not a profile</html>"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	got, err := Capture(context.Background(), srv.URL, dir, "x", time.Second)
	if err == nil || len(got) != 0 {
		t.Fatalf("Capture of HTML = %v, %v; want an error and no files", got, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("wrote %d files for non-profiles", len(entries))
	}
}

func TestTopRejectsNonCPU(t *testing.T) {
	srv := httptest.NewServer(adminMux())
	defer srv.Close()
	dir := t.TempDir()
	if _, err := Capture(context.Background(), srv.URL, dir, "x", time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := Top(filepath.Join(dir, "x.heap.pprof"), 5); err == nil {
		t.Error("Top of a heap profile succeeded, want an error (no cpu sample type)")
	}
}
