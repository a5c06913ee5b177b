package scenario

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/benchharness/benchharness/loadtest/internal/netsig"
	"github.com/benchharness/benchharness/loadtest/internal/sampler"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// kernel is where the scenario reads the kernel's view of its server: the process (0: a server
// the harness did not start, read in the harness's own namespace), its API port, and the
// namespace's counters at launch.
type kernel struct {
	pid    int
	port   uint16
	shared bool
	before netsig.Counters
	err    error
}

// watchKernel starts the kernel's readings of srv: the sampler's per-sample view of its API
// port and the counters' first reading. nil when the server is out of reach (not on this
// machine, or sock_diag refused).
func watchKernel(srv Server, smp *sampler.Sampler) *kernel {
	port, local := apiPort(srv.API())
	k := &kernel{port: port}
	switch {
	case srv.Process != nil:
		k.pid = srv.Process.PID()
	case !local:
		return nil
	}
	if err := smp.WatchNet(k.pid, port); err != nil {
		return nil
	}
	k.shared, k.err = netsig.SharedNamespace(k.pid)
	if k.err == nil {
		k.before, k.err = netsig.ReadCounters(k.pid)
	}
	return k
}

// apiPort is the port of base URL u, and whether its host is this machine's loopback.
func apiPort(u string) (uint16, bool) {
	pu, err := url.Parse(u)
	if err != nil {
		return 0, false
	}
	host, p, err := net.SplitHostPort(pu.Host)
	if err != nil {
		return 0, false
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return 0, false
	}
	a, err := netip.ParseAddr(host)
	return uint16(port), host == "localhost" || (err == nil && a.IsLoopback())
}

// stats are the scenario's kernel figures: the queue's peak over samples and the counters'
// deltas since launch. A server that has exited takes its namespace's counters with it when
// the namespace was its own; the harness's namespace is read then.
func (k *kernel) stats(samples []summary.Sample) *summary.NetStats {
	ns := &summary.NetStats{SharedNamespace: k.shared}
	for _, s := range samples {
		if s.Net != nil {
			ns.AcceptQueuePeak = max(ns.AcceptQueuePeak, s.Net.AcceptQueue)
			ns.AcceptQueueLimit = max(ns.AcceptQueueLimit, s.Net.AcceptLimit)
		}
	}
	if k.err != nil {
		ns.Error = k.err.Error()
		return ns
	}
	pid := k.pid
	if k.shared {
		pid = 0 // the server may have exited; its namespace is ours
	}
	after, err := netsig.ReadCounters(pid)
	if err != nil {
		ns.Error = err.Error()
		return ns
	}
	ns.Counters = after.Sub(k.before).Pick(netsig.Handoff)
	return ns
}
