// Package machine reads this machine's and its processes' CPU counters from /proc: the busy
// time of every CPU, each process's CPU time, each thread's run time and run-queue delay. A
// neighbour's load (a CI job beside it, a CPU hog) slows the server under test the way a slow
// server would; these are what tell the two apart. Linux only; elsewhere the reads fail.
package machine

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reading is one look at the machine's CPU counters, in clock ticks since boot.
type Reading struct {
	Busy  uint64         // user, nice, system and steal time of every CPU (interrupts left out: no process owns them)
	Total uint64         // Busy plus idle and iowait
	Ours  map[int]uint64 // user and system time of each of the benchmark's own processes
	CPUs  int
}

// Read takes a Reading of the machine and of pids, the benchmark's processes. A process that
// is gone by the next Reading (a closed PostgreSQL connection) has its time counted as
// another's, which errs towards "busy".
func Read(pids []int) (Reading, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Reading{}, fmt.Errorf("read /proc/stat: %w", err)
	}
	var r Reading
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 8 && f[0] == "cpu":
			v := make([]uint64, 9)
			for i := range v {
				v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
			}
			// user nice system idle iowait irq softirq steal
			r.Busy = v[0] + v[1] + v[2] + v[7]
			r.Total = r.Busy + v[3] + v[4]
		case strings.HasPrefix(f0(f), "cpu"):
			r.CPUs++
		}
	}
	if r.Total == 0 {
		return Reading{}, errors.New("read /proc/stat: no cpu line")
	}
	r.Ours = make(map[int]uint64, len(pids))
	for _, pid := range pids {
		if t, ok := processTicks(pid); ok {
			r.Ours[pid] = t
		}
	}
	return r, nil
}

func f0(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// processTicks is a process's user + system time, and whether it is there.
func processTicks(pid int) (uint64, bool) {
	f, ok := statFields(pid)
	if !ok {
		return 0, false
	}
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	return utime + stime, true
}

// Nice is pid's nice value (from /proc/<pid>/stat).
func Nice(pid int) (int, bool) {
	f, ok := statFields(pid)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(f[16])
	return n, err == nil
}

// LowPriorityPeers lists the processes that run at least gap nice levels below pid and in its
// scheduling group: nice orders tasks only within one group (a cgroup's CPU controller, and the
// session's autogroup when the kernel's is on); across groups each group has its own weight, so
// a niced process elsewhere competes like any other.
func LowPriorityPeers(pid, gap int) []int {
	nice, ok := Nice(pid)
	if !ok {
		return nil
	}
	group := schedGroup(pid)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var peers []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == pid {
			continue
		}
		if n, ok := Nice(p); ok && n >= nice+gap && schedGroup(p) == group {
			peers = append(peers, p)
		}
	}
	return peers
}

// schedGroup names pid's scheduling group: its CPU cgroup (the cpu controller's path in cgroup
// v1, the unified path in v2) and its autogroup when the kernel's autogroup is on.
func schedGroup(pid int) string {
	var group string
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid)); err == nil {
		for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			f := strings.SplitN(line, ":", 3)
			if len(f) != 3 {
				continue
			}
			if slices.Contains(strings.Split(f[1], ","), "cpu") {
				group = "v1:" + f[2]
				break
			}
			if f[0] == "0" && f[1] == "" {
				group = "v2:" + f[2]
			}
		}
	}
	if on, err := os.ReadFile("/proc/sys/kernel/sched_autogroup_enabled"); err == nil && strings.TrimSpace(string(on)) == "1" {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/autogroup", pid)); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				group += " " + f[0]
			}
		}
	}
	return group
}

// IsProcess reports whether pid is a running process named name (a PostgreSQL backend's pid
// from pg_stat_activity is only ours to read when the database runs on this machine).
func IsProcess(pid int, name string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(b)) == name
}

// ProcessCPU is the CPU time pid's threads have run, from each thread's schedstat (the
// scheduler's nanosecond count): /proc/<pid>/stat counts in 10 ms clock ticks, which would be
// ±5 % on the ~0.2 s a short scenario costs a server. A thread that exited takes its time with
// it; a Go server keeps its threads, so this errs low by at most what such a thread ran.
func ProcessCPU(pid int) (time.Duration, bool) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, false
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread exited between the listing and the read
		}
		ns, err := strconv.ParseInt(f0(strings.Fields(string(b))), 10, 64)
		if err != nil {
			return 0, false
		}
		total += time.Duration(ns)
	}
	return total, true
}

// ProcessNamespace names this machine's boot and process namespace, "" when it cannot tell:
// two processes that give the same name can read each other's /proc/<pid> (a load generator on
// this machine, whose CPU is the benchmark's own, not a neighbour's).
func ProcessNamespace() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(boot)) + "/" + ns
}

// CPUModel is the processor's name from /proc/cpuinfo ("model name", or "Model" on arm64),
// the machine kind a like-for-like comparison holds fixed; "" when unknown.
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	return cpuModel(b)
}

func cpuModel(cpuinfo []byte) string {
	for line := range strings.SplitSeq(string(cpuinfo), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name", "Model":
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

// ProcessResources is pid's resident memory in bytes (VmRSS of /proc/<pid>/status) and its open
// file descriptors (the entries of /proc/<pid>/fd), and whether both could be read.
func ProcessResources(pid int) (rss, fds float64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	rss, ok = vmRSS(b)
	if !ok {
		return 0, 0, false
	}
	d, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0, false
	}
	return rss, float64(len(d)), true
}

// PeakRSS is pid's peak resident memory in bytes (VmHWM of /proc/<pid>/status), and whether
// it could be read.
func PeakRSS(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	return statusBytes(b, "VmHWM:")
}

// LoadAverage is the machine's 1-minute load average (the first field of /proc/loadavg), and
// whether it could be read: how shared the machine was while something was measured.
func LoadAverage() (float64, bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(f0(strings.Fields(string(b))), 64)
	return v, err == nil
}

// vmRSS reads "VmRSS:    1234 kB" from a /proc/<pid>/status, in bytes.
func vmRSS(status []byte) (float64, bool) { return statusBytes(status, "VmRSS:") }

// statusBytes reads a line "<key>    1234 kB" of a /proc/<pid>/status, in bytes.
func statusBytes(status []byte, key string) (float64, bool) {
	for line := range strings.SplitSeq(string(status), "\n") {
		v, ok := strings.CutPrefix(line, key)
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		return kb * 1024, err == nil
	}
	return 0, false
}
