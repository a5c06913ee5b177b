package netsig

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Counters are a network namespace's TCP counters, named as nstat names them without the
// group prefix: "ListenOverflows", "ListenDrops" (TcpExt), "OutRsts", "EstabResets",
// "AttemptFails" (Tcp).
type Counters map[string]int64

// Handoff lists the counters that matter when a listener closes or a server hands over, in the
// order reports show them.
var Handoff = []string{"ListenOverflows", "ListenDrops", "OutRsts", "EstabResets", "AttemptFails",
	"TCPAbortOnClose", "TCPAbortOnData", "TCPReqQFullDrop", "PassiveOpens", "ActiveOpens"}

// ReadCounters reads the TcpExt and Tcp counters of the network namespace of process pid
// (0: the caller's) from /proc/<pid>/net/netstat and /proc/<pid>/net/snmp.
func ReadCounters(pid int) (Counters, error) {
	dir := "/proc/self/net"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d/net", pid)
	}
	c := Counters{}
	for _, f := range []struct{ file, group string }{{"netstat", "TcpExt"}, {"snmp", "Tcp"}} {
		if err := readGroup(dir+"/"+f.file, f.group, c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// readGroup adds the counters of one group ("TcpExt:" header line, then its values line).
func readGroup(path, group string, c Counters) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read counters: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var names []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != group+":" {
			continue
		}
		if names == nil {
			names = fields[1:]
			continue
		}
		for i, v := range fields[1:] {
			if i >= len(names) {
				break
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("read counters %s: %s %q: %w", path, names[i], v, err)
			}
			c[names[i]] = n
		}
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read counters %s: %w", path, err)
	}
	return fmt.Errorf("read counters %s: no %s group", path, group)
}

// Sub returns c − before for every counter in c: the counts over the span between the readings.
func (c Counters) Sub(before Counters) Counters {
	d := make(Counters, len(c))
	for k, v := range c {
		d[k] = v - before[k]
	}
	return d
}

// Pick returns the named counters only (those present).
func (c Counters) Pick(names []string) Counters {
	out := Counters{}
	for _, n := range names {
		if v, ok := c[n]; ok {
			out[n] = v
		}
	}
	return out
}

// SharedNamespace reports whether process pid is in the caller's network namespace (pid 0:
// yes). Then its counters are the machine's: they include every other process's traffic.
func SharedNamespace(pid int) (bool, error) {
	if pid == 0 {
		return true, nil
	}
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return false, fmt.Errorf("read own network namespace: %w", err)
	}
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return false, fmt.Errorf("read network namespace of pid %d: %w", pid, err)
	}
	return own == theirs, nil
}
