package proof

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Listener is one listening TCP socket: its local address and the socket inode that ties it to
// a process's file descriptors.
type Listener struct {
	Addr  netip.AddrPort
	Inode string
}

// ParseProcNetTCP reads /proc/net/tcp or /proc/net/tcp6 and returns the sockets in LISTEN state
// (st 0A). Addresses there are hexadecimal, in the kernel's byte order per 32-bit word.
func ParseProcNetTCP(r io.Reader) ([]Listener, error) {
	var out []Listener
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first { // header line
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		host, port, ok := strings.Cut(f[1], ":")
		if !ok {
			return nil, fmt.Errorf("parse /proc/net/tcp: local address %q", f[1])
		}
		addr, err := procAddr(host)
		if err != nil {
			return nil, err
		}
		p, err := strconv.ParseUint(port, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("parse /proc/net/tcp: port %q: %w", port, err)
		}
		out = append(out, Listener{Addr: netip.AddrPortFrom(addr, uint16(p)), Inode: f[9]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /proc/net/tcp: %w", err)
	}
	return out, nil
}

// procAddr decodes a /proc/net/tcp{,6} address: 8 hex digits (IPv4) or 32 (IPv6), each 32-bit
// word little-endian.
func procAddr(h string) (netip.Addr, error) {
	if len(h) != 8 && len(h) != 32 {
		return netip.Addr{}, fmt.Errorf("parse /proc/net/tcp: address %q", h)
	}
	b := make([]byte, len(h)/2)
	for i := range b {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("parse /proc/net/tcp: address %q: %w", h, err)
		}
		b[i] = byte(v)
	}
	for w := 0; w < len(b); w += 4 {
		b[w], b[w+1], b[w+2], b[w+3] = b[w+3], b[w+2], b[w+1], b[w]
	}
	if len(b) == 4 {
		return netip.AddrFrom4([4]byte(b)), nil
	}
	return netip.AddrFrom16([16]byte(b)).Unmap(), nil
}

// ProcessListeners returns the listening TCP sockets a process holds open, read from /proc
// (Linux only).
func ProcessListeners(pid int) ([]Listener, error) {
	fds, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	if err != nil {
		return nil, fmt.Errorf("list fds of %d: %w", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(fd)
		if err != nil {
			continue // closed since the glob
		}
		if ino, ok := strings.CutPrefix(target, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var out []Listener
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue // no IPv6 on this kernel
		}
		ls, err := ParseProcNetTCP(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			if inodes[l.Inode] {
				out = append(out, l)
			}
		}
	}
	return out, nil
}
