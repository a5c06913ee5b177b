package scenario

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/netsig"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

func TestClassify(t *testing.T) {
	sigterm := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	before, after := sigterm.Add(-time.Second), sigterm.Add(time.Millisecond)
	closed := sigterm.Add(300 * time.Millisecond)
	// The readings saw 127.0.0.1:40000 and [::1]:40001 waiting in the accept queue, and
	// 127.0.0.1:40003 accepted; the last with the listener open was 1 ms before the first without.
	w := newQueueWatch()
	for a, q := range map[string]bool{"127.0.0.1:40000": true, "[::1]:40001": true, "127.0.0.1:40002": false, "127.0.0.1:40003": false} {
		w.queued[netip.MustParseAddrPort(a)] = q
		w.seenAny[netip.MustParseAddrPort(a)] = true
	}
	w.lastOpen, w.closedAt = closed.Add(-time.Millisecond), closed
	unread := newQueueWatch() // no reading's times: an unseen connection is not placed
	queuedEOF := `Get "x": (local 127.0.0.1:40000) EOF`
	tests := []struct {
		name   string
		res    vegeta.Result
		queued func(string, time.Time, time.Time) bool
		want   string
	}{
		{"answered before", vegeta.Result{Code: 200, Timestamp: before, Latency: 10 * time.Millisecond}, w.queuedAt, CompletedBefore},
		{"answered across SIGTERM", vegeta.Result{Code: 201, Timestamp: before, Latency: 2 * time.Second}, w.queuedAt, CompletedAfter},
		{"4xx is an answer", vegeta.Result{Code: 400, Timestamp: after}, w.queuedAt, CompletedAfter},
		{"refused", vegeta.Result{Timestamp: after, Error: "dial tcp 127.0.0.1:1: connect: connection refused"}, w.queuedAt, Refused},
		{"idle connection closed", vegeta.Result{Timestamp: after, Error: "http: server closed idle connection"}, w.queuedAt, Refused},
		{"reset while connecting", vegeta.Result{Timestamp: after, Error: "dial tcp 127.0.0.1:1: connect: connection reset by peer"}, w.queuedAt, Refused},
		{"EOF on a connection seen in the accept queue", vegeta.Result{Timestamp: closed.Add(-10 * time.Millisecond), Latency: 15 * time.Millisecond, Error: queuedEOF}, w.queuedAt, AcceptQueueReset},
		{"reset on an IPv6 connection seen in the accept queue", vegeta.Result{Timestamp: after, Latency: 300 * time.Millisecond,
			Error: `Get "x": (local [::1]:40001) read tcp [::1]:40001->[::1]:8080: read: connection reset by peer`}, w.queuedAt, AcceptQueueReset},
		{"reset at the close, connection no reading saw", vegeta.Result{Timestamp: closed.Add(-500 * time.Microsecond), Latency: 400 * time.Microsecond,
			Error: `Get "x": (local 127.0.0.1:49999) read tcp 127.0.0.1:49999->127.0.0.1:8080: read: connection reset by peer`}, w.queuedAt, AcceptQueueReset},
		{"EOF at the close, connection never seen, readings without times", vegeta.Result{Timestamp: closed.Add(-10 * time.Millisecond), Latency: 15 * time.Millisecond, Error: `Get "x": (local 127.0.0.1:49999) EOF`}, unread.queuedAt, Lost},
		{"EOF before the last open reading, connection never seen", vegeta.Result{Timestamp: closed.Add(-10 * time.Millisecond), Latency: 5 * time.Millisecond, Error: `Get "x": (local 127.0.0.1:49999) EOF`}, w.queuedAt, Lost},
		{"sent after the listener was seen closed, never seen", vegeta.Result{Timestamp: closed.Add(time.Millisecond), Latency: time.Millisecond, Error: `Get "x": (local 127.0.0.1:49999) EOF`}, w.queuedAt, Lost},
		{"reset at the close on a connection seen accepted", vegeta.Result{Timestamp: closed.Add(-500 * time.Microsecond), Latency: 400 * time.Microsecond, Error: `Get "x": (local 127.0.0.1:40003) EOF`}, w.queuedAt, Lost},
		{"EOF on a connection seen queued, then accepted", vegeta.Result{Timestamp: after, Latency: 2 * time.Second, Error: `Get "x": (local 127.0.0.1:40002) EOF`}, w.queuedAt, Lost},
		{"EOF at the close, queue not read", vegeta.Result{Timestamp: closed.Add(-10 * time.Millisecond), Latency: 15 * time.Millisecond, Error: queuedEOF}, nil, Lost},
		{"EOF on a queued address, failed before SIGTERM", vegeta.Result{Timestamp: before, Latency: 10 * time.Millisecond, Error: queuedEOF}, w.queuedAt, Lost},
		{"timeout on a queued address", vegeta.Result{Timestamp: after, Error: `Get "x": (local 127.0.0.1:40000) context deadline exceeded (Client.Timeout exceeded)`}, w.queuedAt, Lost},
		{"EOF", vegeta.Result{Timestamp: before, Latency: 2 * time.Second, Error: `Get "x": EOF`}, w.queuedAt, Lost},
		{"reset", vegeta.Result{Timestamp: before, Error: "read: connection reset by peer"}, w.queuedAt, Lost},
		{"503", vegeta.Result{Code: 503, Timestamp: after}, w.queuedAt, Lost},
		{"timeout", vegeta.Result{Timestamp: before, Error: "Client.Timeout exceeded"}, w.queuedAt, Lost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(&tt.res, sigterm, tt.queued); got != tt.want {
				t.Errorf("classify = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestQueueWatchUnion: a connection seen waiting in any reading since SIGTERM stays queued when
// later readings no longer list it (the union); only a later sighting as accepted clears it.
func TestQueueWatchUnion(t *testing.T) {
	a, b, c := netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"), netip.MustParseAddrPort("127.0.0.1:3")
	lis := []netsig.Listener{{Queue: 1, Limit: 8}}
	w := newQueueWatch()
	for i, p := range []netsig.Port{
		{Listeners: lis, Queued: []netip.AddrPort{a, c}},
		{Listeners: lis, Queued: []netip.AddrPort{b}, Accepted: []netip.AddrPort{c}},
		{Listeners: lis},
	} {
		if now := time.Now(); w.add(p, now, now) {
			t.Fatalf("reading %d: closed with a listener open", i)
		}
	}
	if now := time.Now(); !w.add(netsig.Port{}, now, now) || w.closedAt.IsZero() {
		t.Fatal("a reading without a listener did not end the watch")
	}
	if got := w.seen(); got != 2 {
		t.Errorf("seen = %d, want 2 (a and b: the union, c accepted)", got)
	}
	for _, tt := range []struct {
		addr netip.AddrPort
		want bool
	}{{a, true}, {b, true}, {c, false}} {
		if got := w.queuedAt(`Get "x": (local `+tt.addr.String()+`) EOF`, time.Time{}, time.Time{}); got != tt.want {
			t.Errorf("queuedAt(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// TestQueueWatchReadingSpan: a connection no reading saw, reset when the listener closed. The
// last reading that saw the listener open began before the reset and ended after it (measured:
// reset at +302 ms, that reading ended +303.6 ms): the reset is the accept queue's, not a lost
// request.
func TestQueueWatchReadingSpan(t *testing.T) {
	lis := []netsig.Listener{{Queue: 0, Limit: 8}}
	t0 := time.Now()
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	w := newQueueWatch()
	w.add(netsig.Port{Listeners: lis}, at(300.5), at(301))
	w.add(netsig.Port{Listeners: lis}, at(301.8), at(303.6))
	w.add(netsig.Port{}, at(304.6), at(306.6))
	msg := `Get "x": (local 127.0.0.1:55466) read: connection reset by peer`
	for _, tt := range []struct {
		name      string
		sent, end float64
		want      bool
	}{
		{"reset inside the last open reading", 302, 302.2, true},
		{"failed before any reading could have seen the listener open", 299, 300, false},
		{"sent after the listener was seen closed", 307, 307.1, false},
	} {
		if got := w.queuedAt(msg, at(tt.sent), at(tt.end)); got != tt.want {
			t.Errorf("%s: queuedAt = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMissing(t *testing.T) {
	got := missingFrom([]int64{5, 1, 9, 3}, []int64{1, 3})
	if len(got) != 2 || got[0] != 5 || got[1] != 9 {
		t.Errorf("missing = %v, want [5 9]", got)
	}
}

func TestCancelsSeenCheck(t *testing.T) {
	tests := []struct {
		sent, seen  int64
		scrapeFail  bool
		generatorOK bool
		pass        bool
		kind        summary.CheckKind
	}{
		{94, 94, false, true, true, summary.Correctness},
		{94, 92, false, true, true, summary.Correctness},    // a timeout that raced its answer: within the slack of 2
		{94, 656, false, true, false, summary.Correctness},  // the server cancelled far more than the client gave up on
		{94, 656, false, false, false, summary.Correctness}, // ... even on a starved machine
		{94, 10, false, true, false, summary.Correctness},   // cancels the server never noticed
		{111, 101, false, false, false, summary.Validity},   // starved: timeouts before the server read them
		{500, 490, false, true, true, summary.Correctness},  // 2 % of 500
		{94, 94, true, true, false, summary.Correctness},    // /metrics unreadable: nothing seen
	}
	for _, tt := range tests {
		c := &cancelRun{}
		got := c.seenCheck(&summary.CancelStats{CancelsSent: tt.sent, CancelsSeen: tt.seen}, summary.Sample{ScrapeFailed: tt.scrapeFail}, tt.generatorOK)
		if got.Pass != tt.pass || got.Kind != tt.kind {
			t.Errorf("sent %d, seen %d, scrape failed %v, generator ok %v: pass %v %s, want %v %s (%s, want %s)",
				tt.sent, tt.seen, tt.scrapeFail, tt.generatorOK, got.Pass, got.Kind, tt.pass, tt.kind, got.Got, got.Want)
		}
	}
}

func TestPoolFor(t *testing.T) {
	tests := []struct {
		name     string
		set      Settings
		heldRate float64
		hold     time.Duration
		want     int
	}{
		{"no held requests: the default", Settings{}, 0, 0, defaultPool},
		{"cancel's default: 5/s held 0.6 s", Settings{}, 5, 600 * time.Millisecond, 14}, // 3 + 4·√3 = 9.9 → 10, + 4
		{"shutdown's default: 5/s held 1 s", Settings{}, 5, time.Second, 18},            // 5 + 4·√5 = 13.9 → 14, + 4
		{"the setting wins", Settings{Pool: 1}, 5, time.Second, 1},
	}
	for _, tt := range tests {
		if got := poolFor(tt.set, tt.heldRate, tt.hold); got != tt.want {
			t.Errorf("%s: poolFor = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestLostAtCloseOnASlowMachine: losses at the listener's close within the machine's measured
// scheduling delay are INVALID (a backlog reset cannot be told from a drop); a loss away from the
// close, or any loss on a machine that kept time, stays a FAIL.
func TestLostAtCloseOnASlowMachine(t *testing.T) {
	sigterm := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	closed := sigterm.Add(300 * time.Millisecond)
	atClose := shutdownResult{ts: closed.Add(-35 * time.Millisecond), latency: 328 * time.Millisecond, err: `Get "x": EOF`}
	held := shutdownResult{ts: sigterm.Add(-time.Second), latency: 1400 * time.Millisecond, err: `Get "x": EOF`, delayed: true}
	tests := []struct {
		name     string
		results  []shutdownResult
		lateness float64 // send lateness p99, ms
		kind     summary.CheckKind
	}{
		{"slow machine, every loss at the close", []shutdownResult{atClose}, 400, summary.Validity},
		{"a machine that kept time", []shutdownResult{atClose}, 20, summary.Correctness},
		{"slow machine, a held request cut too", []shutdownResult{atClose, held}, 400, summary.Correctness},
	}
	for _, tt := range tests {
		s := &shutdownRun{results: tt.results, sigtermAt: sigterm, closed: closed}
		ss := &summary.ShutdownStats{Classes: map[string]int64{Lost: int64(len(tt.results))}}
		lost := []summary.Request{{Error: "EOF"}}
		ch := s.lostCheck(ss, lost, 0, tt.lateness)
		if ch.Pass || ch.Kind != tt.kind {
			t.Errorf("%s: pass %v, kind %s; want a failed %s check (%s)", tt.name, ch.Pass, ch.Kind, tt.kind, ch.Got)
		}
	}
}

func TestSignalsLast(t *testing.T) {
	all, err := Select([]string{"steady", "cancel", "shutdown", "shutdown-short-drain", "ramp"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range SignalsLast(all) {
		names = append(names, s.Name)
	}
	if got, want := strings.Join(names, ","), "steady,cancel,ramp,shutdown,shutdown-short-drain"; got != want {
		t.Errorf("SignalsLast = %s, want %s", got, want)
	}
}

// TestExternalSkipsManagedOnly: with a -signal-cmd the shutdown scenario runs against an
// external target, but shutdown-short-drain tests a drain timeout only the harness can give
// a server, so it is skipped with that reason.
func TestExternalSkipsManagedOnly(t *testing.T) {
	scs, _ := Select([]string{"shutdown-short-drain"})
	rn := &Runner{Managed: false, Terminate: true, Launch: func(context.Context, LaunchSpec) (Server, error) {
		t.Fatal("launched a server for a scenario that must be skipped")
		return Server{}, nil
	}}
	out, _, err := rn.RunAll(context.Background(), scs)
	if err != nil || out[0].Verdict != summary.Skipped || !strings.Contains(strings.Join(out[0].Reasons, ";"), "only a server the harness starts") {
		t.Fatalf("shutdown-short-drain against an external target: %+v, %v", out, err)
	}
}

// TestAcceptedSpan: the counter's base is its last reading at or before the attack, its final
// the highest after the listener closed; failed scrapes count for neither.
func TestAcceptedSpan(t *testing.T) {
	tests := []struct {
		name        string
		samples     []summary.Sample
		base, final float64
		ok          bool
	}{
		{"both", []summary.Sample{{OffsetMs: 0, Accepted: 3}, {OffsetMs: 100, Accepted: 5}, {OffsetMs: 900, Accepted: 80},
			{OffsetMs: 1100, Accepted: 95}, {OffsetMs: 1200, Accepted: 96}}, 5, 96, true},
		{"no reading after the close", []summary.Sample{{OffsetMs: 100, Accepted: 5}, {OffsetMs: 900, Accepted: 80}}, 5, 0, false},
		{"failed scrapes skipped", []summary.Sample{{OffsetMs: 100, Accepted: 5}, {OffsetMs: 150, ScrapeFailed: true},
			{OffsetMs: 1100, Accepted: 95}, {OffsetMs: 1300, ScrapeFailed: true}}, 5, 95, true},
		{"no reading before the attack", []summary.Sample{{OffsetMs: 300, Accepted: 5}, {OffsetMs: 1100, Accepted: 95}}, 0, 95, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, final, ok := acceptedSpan(tt.samples, 100, 1000)
			if ok != tt.ok || (ok && (base != tt.base || final != tt.final)) {
				t.Errorf("acceptedSpan = %v, %v, %v; want %v, %v, %v", base, final, ok, tt.base, tt.final, tt.ok)
			}
		})
	}
}
