package machine

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// TestTreeCPUCountsChildren: a child spinning shows in its parent's tree while it runs (from its
// schedstat) and still shows once it has been reaped (from the parent's cutime), and is counted
// once, not twice.
func TestTreeCPUCountsChildren(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	self := os.Getpid()
	tree0, ok := TreeCPU(self)
	own0, _ := ProcessCPU(self)
	if !ok {
		t.Fatal("TreeCPU of this process: not ok")
	}
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	const spin = 300 * time.Millisecond
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if c, _ := ProcessCPU(cmd.Process.Pid); c >= spin {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child not charged %v of CPU in a minute", spin)
		}
	}
	live, _ := TreeCPU(self)
	if live-tree0 < spin {
		t.Errorf("tree grew %v while a live child ran ≥ %v", live-tree0, spin)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	child := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	reaped, _ := TreeCPU(self)
	own1, _ := ProcessCPU(self)
	// The reaped child's time is in ticks, each of utime and stime truncated on its own.
	want := (own1 - own0) + child
	if d := (reaped - tree0) - want; d < -3*tick || d > 3*tick {
		t.Errorf("tree grew %v after the child (%v) was reaped and we ran %v; want their sum ±%v", reaped-tree0, child, own1-own0, 3*tick)
	}
	if _, ok := TreeCPU(1 << 30); ok {
		t.Error("TreeCPU of a pid that does not exist: ok")
	}
}

// TestStatusBytes reads a status line's kB figure in bytes and refuses other shapes.
func TestStatusBytes(t *testing.T) {
	status := "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t4\n"
	tests := []struct {
		key  string
		want float64
		ok   bool
	}{
		{"VmHWM:", 2048 * 1024, true},
		{"VmRSS:", 1024 * 1024, true},
		{"Threads:", 0, false},
		{"VmSwap:", 0, false},
	}
	for _, tt := range tests {
		if got, ok := statusBytes([]byte(status), tt.key); got != tt.want || ok != tt.ok {
			t.Errorf("statusBytes(%q) = %v, %v; want %v, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

// TestPeakRSSAndLoad: the peak is at least what is resident now; the load average reads.
func TestPeakRSSAndLoad(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	rss, _, _ := ProcessResources(os.Getpid())
	peak, ok := PeakRSS(os.Getpid())
	if !ok || peak < rss {
		t.Errorf("PeakRSS = %v, %v; resident now %v", peak, ok, rss)
	}
	if _, ok := PeakRSS(1 << 30); ok {
		t.Error("PeakRSS of a pid that does not exist: ok")
	}
	if l, ok := LoadAverage(); !ok || l < 0 {
		t.Errorf("LoadAverage = %v, %v", l, ok)
	}
}
