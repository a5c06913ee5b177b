// Package netsig reads what the kernel knows about a server's sockets: each listening socket's
// accept queue (length and limit, as `ss -lnt` shows Recv-Q and Send-Q), the connections on its
// ports by TCP state, the connections still waiting in the accept queue, and the network
// namespace's counters (ListenOverflows, ListenDrops, resets sent).
//
// Sockets come from netlink sock_diag, counters from /proc/<pid>/net/{netstat,snmp}; both are
// per network namespace. When the server shares the harness's namespace (SharedNamespace), the
// counters include every other process's traffic on the machine.
//
//	d, err := netsig.Open(pid) // a sock_diag socket in pid's network namespace
//	defer d.Close()
//	ls, err := d.Listeners(pid) // the accept queues of pid's listening sockets
//	before, err := netsig.ReadCounters(pid)
//	... later: after.Sub(before)["ListenOverflows"]
package netsig

import "net/netip"

// TCP states as the kernel numbers them (include/net/tcp_states.h).
const (
	stateEstablished = 1
	stateCloseWait   = 8
	stateListen      = 10
)

var stateNames = [...]string{1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
	6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV"}

// StateName is the name `ss` gives a TCP state number.
func StateName(s uint8) string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// Socket is one TCP socket as sock_diag reports it.
type Socket struct {
	State         uint8
	Local, Remote netip.AddrPort
	// Inode is the socket's inode (socket:[N] in /proc/<pid>/fd); 0 for a socket no process holds:
	// a connection still in a listener's accept queue, or one its process closed.
	Inode uint32
	// RecvQ and SendQ: for a listener the accept queue's length and its limit (the listen
	// backlog); for a connection the bytes not yet read and not yet acknowledged.
	RecvQ, SendQ uint32
}

// Queued reports whether s is a connection the kernel completed into a listener's accept queue
// that no process has accepted yet: established (or closed by its peer since) and held by no file.
func (s Socket) Queued() bool {
	return s.Inode == 0 && (s.State == stateEstablished || s.State == stateCloseWait)
}

// Listener is one listening socket and its accept queue.
type Listener struct {
	Addr  netip.AddrPort
	Inode uint32
	Queue uint32 // connections completed by the kernel, not yet accepted
	Limit uint32 // the listen backlog: a full queue drops new handshakes (ListenOverflows)
}

// Port is what the kernel holds on one local port: its listeners, the connections on it by
// state (listeners excluded), and the peers of the connections in its accept queues.
type Port struct {
	Listeners []Listener
	States    map[string]int
	Queued    []netip.AddrPort // remote address (the client's local address) of each queued connection
	Accepted  []netip.AddrPort // remote address of each connection a process holds (accepted)
}

// portOf sorts the sockets whose local port is one port.
func portOf(socks []Socket) Port {
	p := Port{States: map[string]int{}}
	for _, s := range socks {
		if s.State == stateListen {
			p.Listeners = append(p.Listeners, Listener{Addr: s.Local, Inode: s.Inode, Queue: s.RecvQ, Limit: s.SendQ})
			continue
		}
		p.States[StateName(s.State)]++
		switch {
		case s.Queued():
			p.Queued = append(p.Queued, s.Remote)
		case s.Inode != 0:
			p.Accepted = append(p.Accepted, s.Remote)
		}
	}
	return p
}
