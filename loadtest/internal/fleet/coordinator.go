package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/machine"
)

// Defaults of Options fields left zero.
const (
	DefaultWait                = 30 * time.Second
	DefaultMaxClockUncertainty = 5 * time.Millisecond
	DefaultLostAfter           = 5 * time.Second
)

// Options configure a Coordinator.
type Options struct {
	// Wait bounds how long Dial waits for every worker to be ready (default 30s).
	Wait time.Duration
	// Count is how many workers a DNS name must resolve to (0: what it resolves to): the pods
	// of a headless Service appear in DNS as they become ready.
	Count int
	// MaxClockUncertainty bounds how precisely a worker's clock offset must be known: a worker
	// whose offset is known less precisely makes the scenario INVALID (default 5ms: against
	// one-second windows, a send moved by more than that lands visibly in the wrong place).
	MaxClockUncertainty time.Duration
	// LostAfter is how long a worker may stay silent in an attack before it is lost (default 5s;
	// it beats every 500 ms).
	LostAfter time.Duration
	Key       string   // sent as "Authorization: Bearer <Key>" (LOADTEST_WORKER_KEY); required
	Resolver  Resolver // nil: net.DefaultResolver
}

// Coordinator spreads attacks over workers (`loadtest run -workers`): one schedule, sharded by
// hit sequence number, started at one moment on every worker's corrected clock, the results
// merged in arrival order into the one engine (attack.Run).
type Coordinator struct {
	o       Options
	peers   []peer // in shard order
	control *http.Client
	streams *http.Client
}

// peer is one ready worker.
type peer struct {
	addr string
	pid  int
	host string // machine.ProcessNamespace of the worker
}

// Dial resolves list (see ParseList) and waits up to Options.Wait until every worker answers
// ready and idle. A worker that does not is named in the error, with its last answer.
func Dial(ctx context.Context, list string, o Options) (*Coordinator, error) {
	items, err := ParseList(list)
	if err != nil {
		return nil, err
	}
	if err := checkKey(o.Key); err != nil {
		return nil, err
	}
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.MaxClockUncertainty <= 0 {
		o.MaxClockUncertainty = DefaultMaxClockUncertainty
	}
	if o.LostAfter <= 0 {
		o.LostAfter = DefaultLostAfter
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	c := &Coordinator{o: o, control: newClient(5 * time.Second), streams: newClient(0)}
	ready := map[string]peer{}
	deadline := time.Now().Add(o.Wait)
	for {
		addrs, problems := c.poll(ctx, items, ready)
		if len(problems) == 0 {
			for _, a := range addrs {
				c.peers = append(c.peers, ready[a])
			}
			return c, nil
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("workers not ready within %s: %s", o.Wait, strings.Join(problems, "; "))
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// poll resolves the list and asks every worker not yet ready; it returns the addresses and
// what stands in the way, one line per problem.
func (c *Coordinator) poll(ctx context.Context, items []string, ready map[string]peer) ([]string, []string) {
	addrs, err := resolve(ctx, c.o.Resolver, items)
	if err != nil {
		return nil, []string{fmt.Sprintf("resolve %s: %v", strings.Join(items, ","), err)}
	}
	var problems []string
	if c.o.Count > 0 && len(addrs) != c.o.Count {
		problems = append(problems, fmt.Sprintf("%s resolves to %d workers, want %d (-worker-count): %s",
			strings.Join(items, ","), len(addrs), c.o.Count, strings.Join(addrs, ",")))
	}
	for _, a := range addrs {
		if _, ok := ready[a]; ok {
			continue
		}
		p, err := c.ready(ctx, a)
		if err != nil {
			problems = append(problems, fmt.Sprintf("worker %s: %v", a, err))
			continue
		}
		ready[a] = p
	}
	return addrs, problems
}

// ready asks addr whether it is a worker of this protocol with no attack running.
func (c *Coordinator) ready(ctx context.Context, addr string) (peer, error) {
	var r readiness
	if err := c.get(ctx, addr, "/v1/ready", &r); err != nil {
		return peer{}, err
	}
	switch {
	case r.Protocol != Protocol:
		return peer{}, fmt.Errorf("speaks control protocol %d, this coordinator %d", r.Protocol, Protocol)
	case r.Busy:
		return peer{}, errors.New("busy with another attack")
	}
	return peer{addr: addr, pid: r.PID, host: r.Host}, nil
}

// Addrs are the workers' control addresses in shard order.
func (c *Coordinator) Addrs() []string {
	out := make([]string, len(c.peers))
	for i, p := range c.peers {
		out[i] = p.addr
	}
	return out
}

// LocalPIDs are the process ids of the workers that run on this machine, in this process
// namespace: their CPU is the benchmark's own.
func (c *Coordinator) LocalPIDs() []int {
	here := machine.ProcessNamespace()
	var pids []int
	for _, p := range c.peers {
		if here != "" && p.host == here && p.pid > 0 {
			pids = append(pids, p.pid)
		}
	}
	return slices.Compact(pids)
}

// Attack runs cfg's attack over the workers, with the engine's figures, checks and consumers
// (attack.Run), plus a row per worker and the clock check. cfg needs a constant pacer and
// Targets, not a Targeter. A worker lost mid-attack cuts it: the figures are what arrived,
// Interrupted is set and Cut names the worker.
func (c *Coordinator) Attack(ctx context.Context, cfg attack.Config, consumers ...attack.Consumer) (attack.Figures, error) {
	attackCtx, cut := context.WithCancel(ctx)
	defer cut()
	cfg.Shards = c.Addrs()
	f, err := attack.Run(attackCtx, cfg, &remote{c: c, cut: cut}, consumers...)
	if err != nil && ctx.Err() != nil {
		// Ctrl-C while the workers were being set up: an interrupt, nothing sent.
		return attack.Figures{Scenario: cfg.Scenario, Interrupted: true}, nil
	}
	return f, err
}

func (c *Coordinator) get(ctx context.Context, addr, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.do(c.control, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(v)
}

// do sends a control request with the key and turns a non-2xx answer into an error that
// quotes the worker's first line.
func (c *Coordinator) do(client *http.Client, req *http.Request) (*http.Response, error) {
	req.Header.Set("Authorization", "Bearer "+c.o.Key)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, line)
	}
	return resp, nil
}

// newClient is a plain client for the control API (never through an environment proxy);
// timeout 0 is for the results streams, which last as long as an attack.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
	}}
}
