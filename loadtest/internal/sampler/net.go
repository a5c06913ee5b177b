package sampler

import (
	"fmt"
	"sync"

	"github.com/benchharness/benchharness/loadtest/internal/netsig"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// netWatch reads the kernel's view of one port for the sampler; its sock_diag socket is not
// safe for concurrent use, hence the lock.
type netWatch struct {
	mu   sync.Mutex
	diag *netsig.Diag
	port uint16
}

// WatchNet adds the kernel's view of the server's API port to every sample (Sample.Net): its
// accept queue and the connections on it by state. pid is the server's process (0: a server
// outside the harness, read in the harness's network namespace). Call it before Run; Close
// releases the socket.
func (s *Sampler) WatchNet(pid int, port uint16) error {
	d, err := netsig.Open(pid)
	if err != nil {
		return fmt.Errorf("watch port %d: %w", port, err)
	}
	s.net = &netWatch{diag: d, port: port}
	return nil
}

// Close releases what WatchNet opened.
func (s *Sampler) Close() error {
	if s.net == nil {
		return nil
	}
	return s.net.diag.Close()
}

// sample reads the port's listeners, and its connections by state when withConns: a reading
// of the connections walks the kernel's whole established-socket table.
func (w *netWatch) sample(withConns bool) *summary.NetSample {
	read := w.diag.Listening
	if withConns {
		read = w.diag.Port
	}
	w.mu.Lock()
	p, err := read(w.port)
	w.mu.Unlock()
	if err != nil {
		return &summary.NetSample{Failed: true}
	}
	return NetOf(p)
}

// NetOf is the sample figures of one port's reading.
func NetOf(p netsig.Port) *summary.NetSample {
	ns := &summary.NetSample{Listeners: len(p.Listeners)}
	if len(p.States) > 0 {
		ns.States = p.States
	}
	for _, l := range p.Listeners {
		ns.AcceptQueue += float64(l.Queue)
		ns.AcceptLimit += float64(l.Limit)
		ns.Queues = append(ns.Queues, summary.NetQueue{Addr: l.Addr.String(), Inode: l.Inode, Queue: l.Queue, Limit: l.Limit})
	}
	return ns
}
