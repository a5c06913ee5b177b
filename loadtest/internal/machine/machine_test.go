package machine

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// TestForeignSeesAHog: a busy loop in another process is foreign; the same loop counted as ours
// is not.
func TestForeignSeesAHog(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	self := os.Getpid()
	spin := func(d time.Duration) {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
		}
	}
	a, err := Read([]int{self})
	if err != nil {
		t.Fatal(err)
	}
	spin(time.Second) // this process: ours
	b, _ := Read([]int{self})
	oursCores, _ := Foreign(a, b)
	c, _ := Read(nil)
	spin(time.Second) // the same work, not listed as ours
	d, _ := Read(nil)
	foreignCores, _ := Foreign(c, d)
	if foreignCores < 0.7 || foreignCores-oursCores < 0.5 {
		t.Errorf("a second of spinning: %.2f cores foreign when not ours, %.2f when ours; want ≈ 1 and ≈ 0 (plus the machine's other load)", foreignCores, oursCores)
	}
}

func TestIsProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	if IsProcess(os.Getpid(), "postgres") || IsProcess(1<<30, "postgres") {
		t.Error("IsProcess named this test, or a pid that does not exist, postgres")
	}
}

// TestProcessCPUCountsWhatRan: 300 ms of spinning on this process's threads shows as ≈ 300 ms
// of its CPU, to the millisecond rather than the clock tick, and a missing process is not 0.
func TestProcessCPUCountsWhatRan(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	self := os.Getpid()
	before, ok := ProcessCPU(self)
	if !ok {
		t.Fatal("ProcessCPU of this process: not measured")
	}
	start := time.Now()
	for time.Since(start) < 300*time.Millisecond {
	}
	after, _ := ProcessCPU(self)
	if got := after - before; got < 250*time.Millisecond || got > 600*time.Millisecond {
		t.Errorf("300 ms of spinning counted as %v of CPU", got)
	}
	if _, ok := ProcessCPU(1 << 30); ok {
		t.Error("ProcessCPU of a pid that does not exist reported a figure")
	}
}
