package scenario

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/sampler"
	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// The kernel's figures, proved on the real server with the stall-accept fault: from SIGTERM on
// it stops accepting for its drain delay, listener open, backlog 8 (room for 9).

// stalledServer starts the server with stall-accept and a long drain delay, sends SIGTERM and
// waits until /readyz answers 503: from then on nothing leaves the accept queue.
func stalledServer(t *testing.T) (*serverctl.Local, uint16) {
	t.Helper()
	dsn := database(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := serverctl.Start(ctx, serverctl.Config{Bin: server(t), DatabaseURL: dsn,
		Env: []string{"BENCH_FAULTS=stall-accept", "DRAIN_DELAY=20s", "SHUTDOWN_TIMEOUT=1s"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Stop(time.Second) })
	port, _ := apiPort(l.API())
	if err := l.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(l.ReadyURL())
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				return l, port
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("/readyz never answered 503 after SIGTERM: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dial opens n connections to port (never sending a byte), each given timeout to complete.
// It returns how many completed; they are closed at the test's end.
func dial(t *testing.T, port uint16, n int, timeout time.Duration) int {
	t.Helper()
	var (
		mu sync.Mutex
		ok int
		wg sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))), timeout)
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			mu.Lock()
			ok++
			mu.Unlock()
		})
	}
	wg.Wait()
	return ok
}

// ssListen returns Recv-Q and Send-Q of the listener on port as `ss -lnt` prints them.
func ssListen(t *testing.T, port uint16) (recvQ, sendQ int) {
	t.Helper()
	out, err := exec.Command("ss", "-Hlnt", "sport = :"+strconv.Itoa(int(port))).Output()
	if err != nil {
		t.Skipf("ss: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		t.Fatalf("ss -lnt sport = :%d printed %d lines: %q", port, len(lines), out)
	}
	f := strings.Fields(lines[0]) // State Recv-Q Send-Q Local Peer
	if len(f) < 3 {
		t.Fatalf("ss line %q", lines[0])
	}
	recvQ, err1 := strconv.Atoi(f[1])
	sendQ, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		t.Fatalf("ss line %q", lines[0])
	}
	return recvQ, sendQ
}

// TestAcceptQueueAgreesWithSS: the sampler's accept-queue figure is the Recv-Q (and its limit
// the Send-Q) that `ss -lnt` shows of the stalled server's API listener, read at the same moment
// (the queue cannot change between: nothing is accepted and no one else connects).
func TestAcceptQueueAgreesWithSS(t *testing.T) {
	l, port := stalledServer(t)
	const queued = 5
	if n := dial(t, port, queued, 2*time.Second); n != queued {
		t.Fatalf("%d of %d connections completed", n, queued)
	}
	smp := sampler.NewFor(summary.Signals{}, nil, "", 0, 0)
	if err := smp.WatchNet(l.PID(), port); err != nil {
		t.Fatal(err)
	}
	defer smp.Close()
	before, limit := ssListen(t, port)
	sm := smp.Sample(context.Background(), 0)
	after, _ := ssListen(t, port)
	if before != after {
		t.Fatalf("ss Recv-Q moved from %d to %d: not a stalled queue", before, after)
	}
	if sm.Net == nil || sm.Net.Failed {
		t.Fatalf("sample has no kernel view: %+v", sm.Net)
	}
	t.Logf("ss -lnt: Recv-Q %d Send-Q %d; sampler: accept_queue %v accept_limit %v, states %v",
		before, limit, sm.Net.AcceptQueue, sm.Net.AcceptLimit, sm.Net.States)
	if int(sm.Net.AcceptQueue) != before || int(sm.Net.AcceptLimit) != limit || sm.Net.Listeners != 1 {
		t.Errorf("sampler accept queue %v of %v (%d listeners), ss -lnt Recv-Q %d Send-Q %d", sm.Net.AcceptQueue, sm.Net.AcceptLimit, sm.Net.Listeners, before, limit)
	}
	if before != queued || sm.Net.States["ESTABLISHED"] < queued {
		t.Errorf("queue %d, states %v; want the %d connections dialled waiting, established", before, sm.Net.States, queued)
	}
}

// TestListenOverflowsCounted: with the stalled server's backlog full, every further handshake is
// dropped and counted in ListenOverflows (and ListenDrops); the scenario's counter deltas (the
// path into summary.json) show at least those, exactly those in a namespace of the server's own.
func TestListenOverflowsCounted(t *testing.T) {
	l, port := stalledServer(t)
	smp := sampler.NewFor(summary.Signals{}, nil, "", 0, 0)
	k := watchKernel(Server{Target: l, Process: l}, smp)
	if k == nil || k.err != nil {
		t.Fatalf("kernel out of reach: %+v", k)
	}
	defer smp.Close()
	fits := dial(t, port, stallBacklog+1, 2*time.Second)
	// A dropped SYN is resent after 1 s: a 300 ms dial sends one SYN, counted once.
	const extra = 5
	if n := dial(t, port, extra, 300*time.Millisecond); n != 0 {
		t.Fatalf("%d connections completed past a full backlog", n)
	}
	sm := smp.Sample(context.Background(), 0)
	ns := k.stats([]summary.Sample{sm})
	t.Logf("queue %v of %v after %d fitting and %d dropped dials; counters %v (shared namespace %v)",
		sm.Net.AcceptQueue, sm.Net.AcceptLimit, fits, extra, ns.Counters, ns.SharedNamespace)
	if fits != stallBacklog+1 || int(sm.Net.AcceptQueue) != stallBacklog+1 {
		t.Fatalf("%d dials fitted, queue %v: want %d (backlog %d + 1)", fits, sm.Net.AcceptQueue, stallBacklog+1, stallBacklog)
	}
	for _, c := range []string{"ListenOverflows", "ListenDrops"} {
		got := ns.Counters[c]
		if got < extra || (!ns.SharedNamespace && got != extra) {
			t.Errorf("%s delta %d, want %d (shared namespace %v: others may add)", c, got, extra, ns.SharedNamespace)
		}
	}
}

// stallBacklog is server/stall.go's listen backlog under stall-accept.
const stallBacklog = 8

// TestAcceptQueueResetsCounted: the shutdown scenario on a server whose backlog fills after
// SIGTERM (stall-accept) reports as reset in the accept queue exactly the requests the client
// itself saw reset or cut by EOF, lists each with its client address, loses none, and passes
// while FailOnAcceptQueue is off; on, the same run FAILs on them.
func TestAcceptQueueResetsCounted(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run("FailOnAcceptQueue="+strconv.FormatBool(fail), func(t *testing.T) {
			set := short()
			set.Rate = 100
			set.Shutdown.DrainDelay = 500 * time.Millisecond
			set.Shutdown.FailOnAcceptQueue = fail
			h := newHarness(t, set, "BENCH_FAULTS=stall-accept")
			sc := h.run(t, context.Background(), "shutdown")[0]
			s := sc.Shutdown
			if s == nil {
				t.Fatalf("no shutdown stats: %s", reasons(sc))
			}
			clientResets := sc.ErrorClasses["reset"] + sc.ErrorClasses["eof"]
			t.Logf("verdict %s; classes %v; client error classes %v; seen queued %d; net %+v; %s",
				sc.Verdict, s.Classes, sc.ErrorClasses, s.AcceptQueueSeen, sc.Net, reasons(sc))
			if clientResets == 0 {
				t.Fatalf("the client saw no reset: the backlog was not filled (classes %v)", sc.ErrorClasses)
			}
			if got := s.Classes[AcceptQueueReset]; got != clientResets || int64(len(s.AcceptQueue)) != got {
				t.Errorf("reset in the accept queue: %d (%d listed), the client's own count of resets and EOFs: %d", got, len(s.AcceptQueue), clientResets)
			}
			if s.Classes[Lost] != 0 || int64(s.AcceptQueueSeen) < s.Classes[AcceptQueueReset] {
				t.Errorf("lost %d, seen queued %d: want none lost, every reset seen queued", s.Classes[Lost], s.AcceptQueueSeen)
			}
			for _, r := range s.AcceptQueue {
				if !strings.Contains(r.Error, "(local 127.0.0.1:") {
					t.Errorf("listed request without its client address: %+v", r)
				}
			}
			if sc.Net == nil || sc.Net.AcceptQueuePeak != stallBacklog+1 {
				t.Errorf("net %+v: want the sampler to have seen the full queue (%d)", sc.Net, stallBacklog+1)
			}
			want := summary.Pass
			if fail {
				want = summary.Fail
			}
			if generatorOnly(sc) {
				t.Skipf("INVALID on a busy machine: %s", reasons(sc))
			}
			if sc.Verdict != want || (fail && !strings.Contains(reasons(sc), "accept queue")) {
				t.Errorf("verdict %s (%s), want %s", sc.Verdict, reasons(sc), want)
			}
		})
	}
}
