package scenario

import (
	"fmt"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// collect puts each listening socket's accept queue over the run into the deploy's figures, once
// the timeline is read: both queues of a reuseport switch, the one shared socket of a handoff.
func (d *deployRun) collect(sc *summary.Scenario) {
	if sc.Deploy == nil {
		return
	}
	sc.Deploy.AcceptQueue = deployQueues(sc.Timeline, sc.Deploy.Strategy)
}

// deployQueues lists the listeners' queues by socket. A socket already listening at the first
// reading is the old server's ("shared" under handoff, where the new server inherits it); one
// that appears later is the new server's.
func deployQueues(timeline []summary.Sample, strategy string) []summary.AcceptQueueSample {
	out := []summary.AcceptQueueSample{}
	first := map[uint32]bool{}
	seenFirst := false
	for _, smp := range timeline {
		if smp.Net == nil || smp.Net.Failed {
			continue
		}
		if !seenFirst {
			for _, q := range smp.Net.Queues {
				first[q.Inode] = true
			}
			seenFirst = true
		}
		for _, q := range smp.Net.Queues {
			out = append(out, summary.AcceptQueueSample{OffsetMs: smp.OffsetMs, Socket: socketRole(q.Inode, first[q.Inode], strategy),
				Queue: int(q.Queue), Limit: int(q.Limit)})
		}
	}
	return out
}

func socketRole(inode uint32, atStart bool, strategy string) string {
	role := "new"
	switch {
	case atStart && strategy == Handoff:
		role = "shared"
	case atStart:
		role = "old"
	}
	return fmt.Sprintf("%s (inode %d)", role, inode)
}
