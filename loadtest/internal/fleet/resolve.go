package fleet

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Resolver looks names up; *net.Resolver is one.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

var _ Resolver = (*net.Resolver)(nil)

// ParseList checks a -workers list without resolving it: comma-separated host:port, or
// srv:NAME. It is the bad-input check (exit 2) before any waiting.
func ParseList(list string) ([]string, error) {
	var items []string
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if name, ok := strings.CutPrefix(item, "srv:"); ok {
			if name == "" {
				return nil, fmt.Errorf("-workers: %q names no SRV record", item)
			}
			items = append(items, item)
			continue
		}
		host, port, err := net.SplitHostPort(item)
		if err != nil {
			return nil, fmt.Errorf("-workers: %q: want host:port or srv:NAME", item)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || host == "" {
			return nil, fmt.Errorf("-workers: %q: want host:port with a port in 1–65535", item)
		}
		items = append(items, item)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("-workers: no worker in %q", list)
	}
	return items, nil
}

// resolve turns parsed -workers items into control addresses (ip:port), in a stable order: an
// IP stands for itself; a name for every address it resolves to, sorted (a Kubernetes headless
// Service's name lists its ready pods); srv:NAME for the targets of NAME's SRV records, each
// resolved the same way. Duplicates are dropped.
func resolve(ctx context.Context, r Resolver, items []string) ([]string, error) {
	var out []string
	for _, item := range items {
		addrs, err := resolveItem(ctx, r, item)
		if err != nil {
			return nil, err
		}
		slices.Sort(addrs)
		out = append(out, addrs...)
	}
	seen := map[string]bool{}
	return slices.DeleteFunc(out, func(a string) bool {
		dup := seen[a]
		seen[a] = true
		return dup
	}), nil
}

func resolveItem(ctx context.Context, r Resolver, item string) ([]string, error) {
	name, isSRV := strings.CutPrefix(item, "srv:")
	if !isSRV {
		host, port, _ := net.SplitHostPort(item) // checked by ParseList
		return resolveHost(ctx, r, host, port)
	}
	_, srvs, err := r.LookupSRV(ctx, "", "", name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range srvs {
		addrs, err := resolveHost(ctx, r, strings.TrimSuffix(s.Target, "."), strconv.Itoa(int(s.Port)))
		if err != nil {
			return nil, err
		}
		out = append(out, addrs...)
	}
	return out, nil
}

func resolveHost(ctx context.Context, r Resolver, host, port string) ([]string, error) {
	if net.ParseIP(host) != nil {
		return []string{net.JoinHostPort(host, port)}, nil
	}
	ips, err := r.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = net.JoinHostPort(ip, port)
	}
	return out, nil
}
