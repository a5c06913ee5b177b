package machine

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ThreadTime is one thread's scheduler counters (/proc/<pid>/task/<tid>/schedstat): time on
// a CPU, time runnable in a run queue waiting for one, and how many times it was given one.
type ThreadTime struct {
	Run    time.Duration
	Wait   time.Duration
	Slices uint64
}

// Threads reads the counters of every thread of pid, by thread id; false when the process is
// gone. A thread that exits between the listing and its read is left out.
func Threads(pid int) (map[int]ThreadTime, bool) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, false
	}
	out := make(map[int]ThreadTime, len(tasks))
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid))
		if err != nil {
			continue
		}
		if tt, ok := parseSchedstat(b); ok {
			out[tid] = tt
		}
	}
	return out, true
}

// parseSchedstat reads "run_ns wait_ns timeslices".
func parseSchedstat(b []byte) (ThreadTime, bool) {
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ThreadTime{}, false
	}
	run, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return ThreadTime{}, false
	}
	wait, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return ThreadTime{}, false
	}
	slices, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return ThreadTime{}, false
	}
	return ThreadTime{Run: time.Duration(run), Wait: time.Duration(wait), Slices: slices}, true
}

// userHz is the unit of /proc/stat's times: USER_HZ, 100 on every Linux architecture Go runs on.
const userHz = 100

// Busy is the CPU time every CPU of the machine has spent busy since boot (user, nice, system
// and steal, as Read counts it) and the number of CPUs.
func Busy() (time.Duration, int, error) {
	r, err := Read(nil)
	if err != nil {
		return 0, 0, err
	}
	return time.Duration(r.Busy) * time.Second / userHz, r.CPUs, nil
}
