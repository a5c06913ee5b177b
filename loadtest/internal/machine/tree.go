package machine

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// tick is the unit of the times in /proc/<pid>/stat (USER_HZ, 100 on every Linux).
const tick = 10 * time.Millisecond

// TreeCPU is the CPU time pid and its children have used so far: its own and each live child's
// from the threads' schedstat (nanoseconds), plus what its exited children ran, which the kernel
// keeps only in clock ticks (cutime and cstime of /proc/<pid>/stat). For PostgreSQL that is the
// postmaster, its live backends, and the backends of closed connections (pgbench -C). A child
// that exits between the two reads is missed, so this errs low by at most what it ran.
func TreeCPU(pid int) (time.Duration, bool) {
	f, ok := statFields(pid)
	if !ok {
		return 0, false
	}
	own, ok := ProcessCPU(pid)
	if !ok {
		return 0, false
	}
	total := own + ticks(f[13]) + ticks(f[14])
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if cf, ok := statFields(child); !ok || cf[1] != strconv.Itoa(pid) {
			continue
		}
		if c, ok := ProcessCPU(child); ok {
			total += c
		}
	}
	return total, true
}

// statFields is /proc/<pid>/stat from the field after the command name on: state is [0], ppid
// [1], utime [11], stime [12], cutime [13], cstime [14]. The name is in parentheses and may
// hold spaces, so fields count from its closing one.
func statFields(pid int) ([]string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return nil, false
	}
	return f, true
}

func ticks(s string) time.Duration {
	n, _ := strconv.ParseUint(s, 10, 64)
	return time.Duration(n) * tick
}
