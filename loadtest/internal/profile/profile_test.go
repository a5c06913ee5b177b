package profile

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
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
	c, err := ReadCPU(filepath.Join(dir, "steady.cpu.pprof"))
	if err != nil {
		t.Fatal(err)
	}
	if g := c.GC(); g.Samples < 50 || g.Share > 0.05 {
		t.Errorf("GC of a CPU burn = %+v, want ≥ 50 samples and a share under 5%%", g)
	}
}

// keep holds the storm's latest allocations so that marking has a heap to trace.
type keep struct{ bufs [64][]*[64]byte }

//go:noinline
func allocate(stop <-chan struct{}) {
	var k keep
	for i := 0; ; i++ {
		if i%1000 == 0 && closed(stop) {
			return
		}
		k.bufs[i%64] = append(k.bufs[i%64][:0], new([64]byte), new([64]byte))
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestGCOfAnAllocationStorm: a profile taken while a goroutine allocates under a tight
// collector (GOGC=1) puts in the GC and its assists the share of the busy time the runtime's
// own CPU classes count.
func TestGCOfAnAllocationStorm(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	type node struct{ next *node }
	var ballast *node // a live heap of pointers that every cycle must trace
	for range 200_000 {
		ballast = &node{next: ballast}
	}
	srv := httptest.NewServer(adminMux())
	defer srv.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { allocate(stop); close(done) }()
	dir := t.TempDir()
	before := gcClasses()
	file, err := CaptureCPU(context.Background(), srv.URL, dir, "storm.cpu.pprof", time.Second)
	want := gcClasses().since(before)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	c, err := ReadCPU(filepath.Join(dir, file.File))
	if err != nil {
		t.Fatal(err)
	}
	if want < 0.15 {
		t.Fatalf("the runtime counted the GC at %.2f of the busy CPU: not a storm", want)
	}
	// The profile's ~100 samples carry a few points of noise, and it read 0.0-0.27 above the
	// classes in 20 runs (whose figure stops at the last cycle's end). The CPU burn above is
	// the test of a profile that counts too much.
	g := c.GC()
	if g.Share < want-0.1 || g.Share > want+0.35 || g.AssistShare <= 0 || g.AssistShare > g.Share {
		t.Errorf("GC of an allocation storm = %+v, want a share near the runtime's %.2f with assists part of it", g, want)
	}
	runtime.KeepAlive(ballast)
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

// classes are the runtime's CPU classes the GC share is read from in a run (runtime/metrics).
type classes struct{ total, idle, gc, gcIdle float64 }

func gcClasses() classes {
	s := []metrics.Sample{{Name: "/cpu/classes/total:cpu-seconds"}, {Name: "/cpu/classes/idle:cpu-seconds"},
		{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/gc/mark/idle:cpu-seconds"}}
	metrics.Read(s)
	return classes{s[0].Value.Float64(), s[1].Value.Float64(), s[2].Value.Float64(), s[3].Value.Float64()}
}

// since is the GC's share of the busy CPU between c0 and c, idle-time marking left out.
func (c classes) since(c0 classes) float64 {
	gcIdle := c.gcIdle - c0.gcIdle
	return (c.gc - c0.gc - gcIdle) / (c.total - c0.total - (c.idle - c0.idle) - gcIdle)
}
