package netsig

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Diag is a netlink sock_diag socket bound to one network namespace. Not safe for concurrent
// use: each reader opens its own.
type Diag struct {
	fd  int
	seq uint32
	buf []byte
}

// Open returns a sock_diag socket in the network namespace of process pid (0: the caller's).
// A netlink socket stays in the namespace it was created in, so a server in a namespace of its
// own is read by creating the socket there, on a locked thread, and coming back.
func Open(pid int) (*Diag, error) {
	shared, err := SharedNamespace(pid)
	if err != nil {
		return nil, err
	}
	if shared {
		return newDiag()
	}
	return openIn(pid)
}

func newDiag() (*Diag, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("open sock_diag socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind sock_diag socket: %w", err)
	}
	return &Diag{fd: fd, buf: make([]byte, 64<<10)}, nil
}

// openIn creates the socket inside pid's namespace. The thread that entered it is never
// reused for other goroutines (it stays locked and exits with this one) should the way back fail.
func openIn(pid int) (*Diag, error) {
	type result struct {
		d   *Diag
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{err: fmt.Errorf("open own network namespace: %w", err)}
			return
		}
		defer own.Close()
		target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			ch <- result{err: fmt.Errorf("open network namespace of pid %d: %w", pid, err)}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("enter network namespace of pid %d: %w", pid, err)}
			return
		}
		d, err := newDiag()
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{d, err}
	}()
	r := <-ch
	return r.d, r.err
}

// Close closes the socket.
func (d *Diag) Close() error { return unix.Close(d.fd) }

// Port returns what the kernel holds on local port port (IPv4 and IPv6).
func (d *Diag) Port(port uint16) (Port, error) {
	socks, err := d.Dump(port, allStates)
	if err != nil {
		return Port{}, err
	}
	return portOf(socks), nil
}

// Listening returns the listeners on local port port, without the port's connections: the
// kernel walks only its listening table for it, not the established one, whose buckets (one per
// 64 KiB of memory or so, 262144 on a 24 GiB machine) it visits one by one in a full dump.
func (d *Diag) Listening(port uint16) (Port, error) {
	socks, err := d.Dump(port, 1<<stateListen)
	if err != nil {
		return Port{}, err
	}
	return portOf(socks), nil
}

// Listeners returns the accept queues of the listening sockets process pid holds.
func (d *Diag) Listeners(pid int) ([]Listener, error) {
	inodes, err := SocketInodes(pid)
	if err != nil {
		return nil, err
	}
	socks, err := d.Dump(0, 1<<stateListen)
	if err != nil {
		return nil, err
	}
	var ls []Listener
	for _, s := range socks {
		if inodes[s.Inode] {
			ls = append(ls, Listener{Addr: s.Local, Inode: s.Inode, Queue: s.RecvQ, Limit: s.SendQ})
		}
	}
	return ls, nil
}

// Listener returns the listening socket with inode inode, and whether it is still open.
func (d *Diag) Listener(inode uint32) (Listener, bool, error) {
	socks, err := d.Dump(0, 1<<stateListen)
	if err != nil {
		return Listener{}, false, err
	}
	for _, s := range socks {
		if s.Inode == inode {
			return Listener{Addr: s.Local, Inode: s.Inode, Queue: s.RecvQ, Limit: s.SendQ}, true, nil
		}
	}
	return Listener{}, false, nil
}

const allStates = 0xfff

// dumpAttempts bounds the retries of a dump the kernel marked inconsistent (NLM_F_DUMP_INTR:
// the socket tables changed under it); a busy port changes often, a few tries suffice.
const dumpAttempts = 10

// Dump returns the TCP sockets (IPv4 and IPv6) in the given states (a bit mask of 1<<state)
// whose local port is port; port 0: every port.
func (d *Diag) Dump(port uint16, states uint32) ([]Socket, error) {
	var out []Socket
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		var socks []Socket
		var err error
		for range dumpAttempts {
			socks, err = d.dump(family, port, states)
			if !errors.Is(err, errInterrupted) {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("sock_diag dump (family %d, port %d): %w", family, port, err)
		}
		out = append(out, socks...)
	}
	return out, nil
}

var errInterrupted = errors.New("dump interrupted (NLM_F_DUMP_INTR)")

// Sizes of struct nlmsghdr, inet_diag_req_v2 and inet_diag_msg (linux/inet_diag.h).
const (
	sizeofHdr  = 16
	sizeofReq  = 56
	sizeofMsg  = 72
	inetDiagBC = 1 // INET_DIAG_REQ_BYTECODE
	// Bytecode ops: sport ≥ p, sport ≤ p (what ss builds for "sport = :p").
	bcSGE = 2
	bcSLE = 3
)

func (d *Diag) dump(family uint8, port uint16, states uint32) ([]Socket, error) {
	d.seq++
	req := request(family, port, states, d.seq)
	if err := unix.Sendto(d.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	var socks []Socket
	intr := false
	for {
		n, _, err := unix.Recvfrom(d.fd, d.buf, 0)
		if err != nil {
			return nil, fmt.Errorf("receive: %w", err)
		}
		b := d.buf[:n]
		for len(b) >= sizeofHdr {
			l := binary.NativeEndian.Uint32(b[0:4])
			typ := binary.NativeEndian.Uint16(b[4:6])
			flags := binary.NativeEndian.Uint16(b[6:8])
			seq := binary.NativeEndian.Uint32(b[8:12])
			if l < sizeofHdr || int(l) > len(b) {
				return nil, fmt.Errorf("malformed netlink message of %d bytes", l)
			}
			msg := b[sizeofHdr:l]
			b = b[min(nlmAlign(int(l)), len(b)):]
			if seq != d.seq {
				continue // a late answer to an earlier, abandoned dump
			}
			if flags&unix.NLM_F_DUMP_INTR != 0 {
				intr = true
			}
			switch typ {
			case unix.NLMSG_DONE:
				if intr {
					return nil, errInterrupted
				}
				return socks, nil
			case unix.NLMSG_ERROR:
				if len(msg) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(msg[:4])); e != 0 {
						return nil, unix.Errno(-e)
					}
				}
				return socks, nil
			case unix.SOCK_DIAG_BY_FAMILY:
				if len(msg) >= sizeofMsg {
					socks = append(socks, parseMsg(msg))
				}
			}
		}
	}
}

func nlmAlign(n int) int { return (n + 3) &^ 3 }

// request builds a dump request for TCP sockets of one family in states, filtered in the kernel
// to local port port (0: no filter).
func request(family uint8, port uint16, states uint32, seq uint32) []byte {
	var bc []byte
	if port != 0 {
		// Two ops of two 4-byte words each; "no" jumps past the end (rejects), "yes" to the next op.
		bc = make([]byte, 16)
		op := func(at int, code uint8, yes uint8, no uint16) {
			bc[at], bc[at+1] = code, yes
			binary.NativeEndian.PutUint16(bc[at+2:], no)
			binary.NativeEndian.PutUint16(bc[at+6:], port) // the next word's "no" holds the port
		}
		op(0, bcSGE, 8, 20)
		op(8, bcSLE, 8, 12)
	}
	attr := 0
	if bc != nil {
		attr = 4 + len(bc)
	}
	b := make([]byte, sizeofHdr+sizeofReq+attr)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(b[8:], seq)
	r := b[sizeofHdr:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(r[4:], states)
	if bc != nil {
		a := b[sizeofHdr+sizeofReq:]
		binary.NativeEndian.PutUint16(a[0:], uint16(4+len(bc)))
		binary.NativeEndian.PutUint16(a[2:], inetDiagBC)
		copy(a[4:], bc)
	}
	return b
}

// parseMsg reads one inet_diag_msg: ports and addresses are big-endian, the rest native.
func parseMsg(m []byte) Socket {
	family := m[0]
	addr := func(b []byte, port uint16) netip.AddrPort {
		var a netip.Addr
		if family == unix.AF_INET {
			a = netip.AddrFrom4([4]byte(b[:4]))
		} else {
			a = netip.AddrFrom16([16]byte(b[:16])).Unmap()
		}
		return netip.AddrPortFrom(a, port)
	}
	id := m[4:52]
	return Socket{
		State:  m[1],
		Local:  addr(id[4:20], binary.BigEndian.Uint16(id[0:2])),
		Remote: addr(id[20:36], binary.BigEndian.Uint16(id[2:4])),
		RecvQ:  binary.NativeEndian.Uint32(m[56:60]),
		SendQ:  binary.NativeEndian.Uint32(m[60:64]),
		Inode:  binary.NativeEndian.Uint32(m[68:72]),
	}
}

// SocketInodes returns the inodes of the sockets process pid holds open.
func SocketInodes(pid int) (map[uint32]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list sockets of pid %d: %w", pid, err)
	}
	inodes := map[uint32]bool{}
	for _, e := range ents {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed since the listing
		}
		v, ok := strings.CutPrefix(link, "socket:[")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 32); err == nil {
			inodes[uint32(n)] = true
		}
	}
	return inodes, nil
}
