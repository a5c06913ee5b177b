package netsig

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
)

// TestQueuedConnectionsSeen: connections a listener has not accepted are its queue's length and
// are listed by their client's address; an accepted one leaves the queue.
func TestQueuedConnectionsSeen(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Skipf("listen %s: %v", addr, err)
			}
			defer ln.Close()
			port := uint16(ln.Addr().(*net.TCPAddr).Port)
			var clients []netip.AddrPort
			for range 3 {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				clients = append(clients, c.LocalAddr().(*net.TCPAddr).AddrPort())
			}
			d, err := Open(0)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			p, err := d.Port(port)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Listeners) != 1 || p.Listeners[0].Queue != 3 || p.Listeners[0].Limit == 0 {
				t.Fatalf("listeners %+v, want one with a queue of 3", p.Listeners)
			}
			for _, c := range clients {
				if !slices.Contains(p.Queued, netip.AddrPortFrom(c.Addr().Unmap(), c.Port())) {
					t.Errorf("client %s not among the queued %v", c, p.Queued)
				}
			}
			l, err := d.Listening(port)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Listeners) != 1 || l.Listeners[0] != p.Listeners[0] || len(l.States) != 0 {
				t.Fatalf("Listening(%d) = %+v, want the listener of Port without connections", port, l)
			}
			a, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			own, err := d.Listeners(os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(own, func(l Listener) bool { return l.Addr.Port() == port })
			if i < 0 || own[i].Queue != 2 || own[i].Inode != p.Listeners[0].Inode {
				t.Fatalf("own listeners %+v, want port %d with a queue of 2 after one accept", own, port)
			}
			if l, ok, err := d.Listener(own[i].Inode); err != nil || !ok || l.Queue != 2 {
				t.Fatalf("Listener(%d) = %+v, %v, %v", own[i].Inode, l, ok, err)
			}
			ln.Close()
			if _, ok, err := d.Listener(own[i].Inode); err != nil || ok {
				t.Fatalf("Listener(%d) after close: open %v, %v", own[i].Inode, ok, err)
			}
		})
	}
}

// BenchmarkReadPort compares a full reading of a port with a reading of its listeners alone, the
// sampler's every-tick reading: go test ./loadtest/internal/netsig -run '^$' -bench ReadPort.
func BenchmarkReadPort(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	d, err := Open(0)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for _, bc := range []struct {
		name string
		read func(uint16) (Port, error)
	}{{"connections", d.Port}, {"listeners", d.Listening}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.read(port); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestReadCounters(t *testing.T) {
	c, err := ReadCounters(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"ListenOverflows", "ListenDrops", "OutRsts", "EstabResets"} {
		if _, ok := c[n]; !ok {
			t.Errorf("counter %s missing from %d read", n, len(c))
		}
	}
	if d := c.Sub(Counters{"OutRsts": c["OutRsts"] - 2}); d["OutRsts"] != 2 {
		t.Errorf("Sub: %v", d["OutRsts"])
	}
	if shared, err := SharedNamespace(os.Getpid()); err != nil || !shared {
		t.Errorf("SharedNamespace(self) = %v, %v", shared, err)
	}
}
