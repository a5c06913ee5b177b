package fleet

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
)

// names is a resolver with fixed answers: DNS and SRV records cannot be served on this
// machine's loopback-only network, so the resolution logic is tested at its interface.
type names struct {
	hosts map[string][]string
	srv   map[string][]*net.SRV
}

func (n names) LookupHost(_ context.Context, host string) ([]string, error) {
	if ips, ok := n.hosts[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (n names) LookupSRV(_ context.Context, _, _, name string) (string, []*net.SRV, error) {
	if s, ok := n.srv[name]; ok {
		return name, s, nil
	}
	return "", nil, errors.New("no SRV records for " + name)
}

func TestResolve(t *testing.T) {
	r := names{
		hosts: map[string][]string{"workers.bench.svc": {"10.0.0.9", "10.0.0.3"}, "w-0.workers": {"10.0.1.1"}, "w-1.workers": {"10.0.1.2"}},
		srv: map[string][]*net.SRV{"_control._tcp.workers": {
			{Target: "w-1.workers.", Port: 7071}, {Target: "w-0.workers.", Port: 7070}}},
	}
	tests := []struct {
		list string
		want []string
		err  string
	}{
		{"127.0.0.1:7001, 127.0.0.1:7002", []string{"127.0.0.1:7001", "127.0.0.1:7002"}, ""},
		{"[::1]:7001", []string{"[::1]:7001"}, ""},
		{"workers.bench.svc:7070", []string{"10.0.0.3:7070", "10.0.0.9:7070"}, ""},
		{"srv:_control._tcp.workers", []string{"10.0.1.1:7070", "10.0.1.2:7071"}, ""},
		{"10.0.0.3:7070,workers.bench.svc:7070", []string{"10.0.0.3:7070", "10.0.0.9:7070"}, ""},
		{"nope.svc:7070", nil, "no such host"},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			items, err := ParseList(tt.list)
			if err != nil {
				t.Fatal(err)
			}
			got, err := resolve(context.Background(), r, items)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("resolve(%q) = %v, %v; want error %q", tt.list, got, err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("resolve(%q) = %v, %v; want %v", tt.list, got, err, tt.want)
			}
		})
	}
}

func TestParseListBadInput(t *testing.T) {
	for _, list := range []string{"", " , ", "host", "host:", "host:0", "host:99999", ":7070", "srv:", "a:1,b"} {
		if _, err := ParseList(list); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseList(%q) = %v, want a one-line error", list, err)
		}
	}
}
