package machine

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"
)

// TestReadCountsOurWork: spinning until the kernel has charged this process 300 ms shows in the
// machine's busy time and in our own, whatever else the machine runs meanwhile (the spin is
// bounded by CPU time charged, not by a wall clock that a busy machine stretches).
func TestReadCountsOurWork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	self := os.Getpid()
	a, err := Read([]int{self})
	if err != nil {
		t.Fatal(err)
	}
	cpu0, _ := ProcessCPU(self)
	spinCPU(t, self, 300*time.Millisecond)
	b, err := Read([]int{self})
	if err != nil {
		t.Fatal(err)
	}
	cpu1, _ := ProcessCPU(self)
	ours := b.Ours[self] - a.Ours[self] // clock ticks, 100 a second
	// Both counts are in whole ticks, each field truncated on its own (the machine's busy time
	// sums four), and the machine's is sampled at its timer tick while ours is the precise run
	// time: the two differ by up to a few ticks when they count the same work. Measured: our 30
	// against the machine's 29, in 2 of 3 rounds of the whole suite.
	const granularity = 4
	if ours < 25 || b.Busy-a.Busy+granularity < ours {
		t.Errorf("300 ms of CPU charged: our ticks +%d, the machine's busy ticks +%d", ours, b.Busy-a.Busy)
	}
	// schedstat and the clock ticks of /proc/<pid>/stat count the same time, to the tick.
	if d := (cpu1 - cpu0) - time.Duration(ours)*10*time.Millisecond; d < -30*time.Millisecond || d > 30*time.Millisecond {
		t.Errorf("ProcessCPU counted %v, /proc/%d/stat %d ticks", cpu1-cpu0, self, ours)
	}
}

// TestLowPriorityPeers: a busy loop started here at nice 19 shares this process's scheduling
// group and is a peer 10 levels below; one at nice 5 is not.
func TestLowPriorityPeers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	self, ok := Nice(os.Getpid())
	if !ok || self > 0 {
		t.Skipf("this process runs at nice %d: no room below it", self)
	}
	loop := func(nice string) int {
		cmd := exec.Command("nice", "-n", nice, "sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		// nice(1) sets the priority, then becomes the loop.
		for deadline := time.Now().Add(10 * time.Second); !IsProcess(cmd.Process.Pid, "sh"); {
			if time.Now().After(deadline) {
				t.Fatal("the loop did not start in 10 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
		return cmd.Process.Pid
	}
	low, mid := loop("19"), loop("5")
	if n, ok := Nice(low); !ok || n != min(self+19, 19) {
		t.Errorf("Nice of the nice-19 loop = %d, %v; want %d", n, ok, min(self+19, 19))
	}
	peers := LowPriorityPeers(os.Getpid(), 10)
	if !slices.Contains(peers, low) || slices.Contains(peers, mid) {
		t.Errorf("LowPriorityPeers = %v: want the nice-19 loop %d and not the nice-5 one %d", peers, low, mid)
	}
}

// spinCPU spins until the kernel has charged pid (this process) d more of CPU, or fails the
// test after a minute.
func spinCPU(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	start, _ := processTicks(pid)
	deadline := time.Now().Add(time.Minute)
	for {
		for range 1_000_000 {
		}
		now, _ := processTicks(pid)
		if time.Duration(now-start)*10*time.Millisecond >= d {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not charged %v of CPU in a minute", d)
		}
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

// TestProcessCPUOfAMissingProcess checks that a pid that does not exist has no figure, not 0.
func TestProcessCPUOfAMissingProcess(t *testing.T) {
	if _, ok := ProcessCPU(1 << 30); ok {
		t.Error("ProcessCPU of a pid that does not exist reported a figure")
	}
}

// TestCPUModel checks that the model is the first processor's name, spaces collapsed, and nothing
// when the file has none.
func TestCPUModel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC  7B13 64-Core Processor\nprocessor\t: 1\nmodel name\t: other\n", "AMD EPYC 7B13 64-Core Processor"},
		{"processor\t: 0\nBogoMIPS\t: 50.00\nModel\t: Raspberry Pi 4 Model B Rev 1.4\n", "Raspberry Pi 4 Model B Rev 1.4"},
		{"processor\t: 0\n", ""},
	}
	for _, tt := range tests {
		if got := cpuModel([]byte(tt.in)); got != tt.want {
			t.Errorf("cpuModel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestProcessResources: memory this process touches shows in its RSS, files it opens in its
// descriptor count.
func TestProcessResources(t *testing.T) {
	rss0, fds0, ok := ProcessResources(os.Getpid())
	if !ok {
		t.Fatal("cannot read this process's resources")
	}
	const size = 64 << 20
	b := make([]byte, size)
	for i := range b {
		b[i] = 1
	}
	var files []*os.File
	for range 10 {
		f, err := os.Open("/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	rss1, fds1, _ := ProcessResources(os.Getpid())
	runtime.KeepAlive(b)
	for _, f := range files {
		f.Close()
	}
	if rss1-rss0 < size*0.9 || fds1-fds0 != 10 {
		t.Fatalf("RSS %+.0f bytes, fds %+.0f after touching 64 MiB and opening 10 files", rss1-rss0, fds1-fds0)
	}
	if _, _, ok := ProcessResources(1 << 30); ok {
		t.Error("a missing process read as ok")
	}
}

// TestThreadsOfThisProcess: a thread that spins shows in its run time, and parseSchedstat reads
// the first two fields.
func TestThreadsOfThisProcess(t *testing.T) {
	if tt, ok := parseSchedstat([]byte("1500 250 7\n")); !ok || tt.Run != 1500 || tt.Wait != 250 {
		t.Errorf("parseSchedstat = %+v, %v; want run 1500 ns, wait 250 ns", tt, ok)
	}
	if _, ok := parseSchedstat([]byte("x")); ok {
		t.Error("parseSchedstat of junk: ok")
	}
	before, ok := Threads(os.Getpid())
	if !ok || len(before) == 0 {
		t.Skip("no /proc/self/task here")
	}
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
	}
	after, _ := Threads(os.Getpid())
	var ran time.Duration
	for tid, a := range after {
		ran += a.Run - before[tid].Run
	}
	if ran < 20*time.Millisecond {
		t.Errorf("threads ran %v during a 50 ms spin; want ≥ 20 ms", ran)
	}
}
