package fleet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/sync/errgroup"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

const (
	// startLead is how far ahead of now the start time is set, on top of a few round trips:
	// enough for every worker to take its plan (a POST on a warm connection) before it.
	startLead = 150 * time.Millisecond
	// stopGrace is how long a stopped worker has to send its last results and end its
	// stream (it aborts its requests in flight at once) before the stream is closed.
	stopGrace = 3 * time.Second
	// endGrace is how long past its last request's timeout a worker has to end its stream: a
	// worker that beats on after that never ends, and is lost.
	endGrace = 5 * time.Second
	// earlyTolerance is how much before its due time a result may say it was sent: the worker
	// measures both on its own monotonic clock and vegeta sleeps until the due time, so any
	// more is not a late timer but a made-up result.
	earlyTolerance = 5 * time.Millisecond
	// lateTolerance is how long past the schedule's end a result may say it was sent (a
	// worker's pacer stops at the end; a starved one sends its last hit late).
	lateTolerance = 5 * time.Second
)

// remote is the Source of a Coordinator's attack: every worker's results stream, merged in
// arrival order into one channel.
type remote struct {
	c     *Coordinator
	cut   context.CancelFunc // cuts the engine's attack: a worker was lost
	links []*link
	out   chan *vegeta.Result
	wg    sync.WaitGroup

	began    time.Time
	stopOnce sync.Once
	stopping atomic.Bool
	stops    sync.WaitGroup // the stop requests, joined by Finish
	grace    *time.Timer    // closes the streams stopGrace after Stop
}

var _ attack.Source = (*remote)(nil)

// link is one worker's part of an attack.
type link struct {
	peer    peer
	clock   offset
	shard   attack.Shard
	cancel  context.CancelFunc // closes its results stream
	silent  atomic.Bool        // its watchdog fired
	overdue atomic.Bool        // its deadline passed without an end frame
	end     *end               // its end frame, once read
	lost    string             // why it was lost, once it was

	received int64             // result frames read, possible or not
	seen     map[uint64]uint64 // the shard's hits received: bit j%64 of word j/64, j = seq/Count
	lies     int64             // results refused as impossible
	firstLie string            // what was wrong with the first
}

// Start measures every worker's clock, sends each its plan with the start time in its own
// clock, and merges their streams. A worker that fails any of it fails the start, named.
func (r *remote) Start(ctx context.Context, cfg attack.Config) (time.Time, <-chan *vegeta.Result, error) {
	var maxRTT time.Duration
	for _, p := range r.c.peers {
		off, err := r.c.measure(ctx, p)
		if err != nil {
			return time.Time{}, nil, fmt.Errorf("worker %s: clock: %w", p.addr, err)
		}
		r.links = append(r.links, &link{peer: p, clock: off})
		maxRTT = max(maxRTT, off.rtt)
	}
	r.began = time.Now().Add(startLead + 4*maxRTT)
	bodies := make([]io.ReadCloser, len(r.links))
	g, gctx := errgroup.WithContext(ctx)
	for i, l := range r.links {
		l.shard = attack.Shard{Index: i, Count: len(r.links)}
		g.Go(func() error {
			body, err := r.open(gctx, l, cfg, l.shard)
			bodies[i] = body
			return err
		})
	}
	err := g.Wait()
	if err == nil && !time.Now().Before(r.began) {
		err = fmt.Errorf("the workers took their plans after the start time (%s lead)", time.Until(r.began))
	}
	if err != nil {
		for i, l := range r.links {
			if bodies[i] != nil {
				bodies[i].Close()
			}
			if l.cancel != nil {
				l.cancel()
			}
		}
		return time.Time{}, nil, err
	}
	r.out = make(chan *vegeta.Result, 256)
	// Every worker must end its stream by the schedule's end, its last request's timeout and
	// endGrace: one that beats on for ever would hold the run for ever.
	deadline := r.began.Add(cfg.Warmup + cfg.Duration + max(cfg.Timeout, cfg.HeldTimeout) + endGrace)
	for i, l := range r.links {
		r.wg.Go(func() { r.read(l, bodies[i], cfg, deadline) })
	}
	go func() { r.wg.Wait(); close(r.out) }()
	return r.began, r.out, nil
}

// open sends a worker its plan and returns its results stream. The stream has a context of its
// own: Ctrl-C stops the attack (Stop) but the last results still come in.
func (r *remote) open(ctx context.Context, l *link, cfg attack.Config, shard attack.Shard) (io.ReadCloser, error) {
	plan, err := planFor(cfg, shard, r.began.Add(l.clock.offset))
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(plan)
	if err != nil {
		return nil, fmt.Errorf("worker %s: plan: %w", l.peer.addr, err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	stop := context.AfterFunc(ctx, cancel) // until the stream is open, ctx still cancels it
	defer stop()
	req, err := http.NewRequestWithContext(sctx, http.MethodPost, "http://"+l.peer.addr+"/v1/attack", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.c.do(r.c.streams, req)
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", l.peer.addr, err)
	}
	return resp.Body, nil
}

// read decodes one worker's stream onto the merged channel until its end frame and EOF. A
// stream that breaks or falls silent before its end frame, while nobody stopped the attack,
// is a lost worker: it is named and the attack is cut.
func (r *remote) read(l *link, body io.ReadCloser, cfg attack.Config, deadline time.Time) {
	defer body.Close()
	dog := time.AfterFunc(r.c.o.LostAfter, func() { l.silent.Store(true); l.cancel() })
	defer dog.Stop()
	late := time.AfterFunc(time.Until(deadline), func() { l.overdue.Store(true); l.cancel() })
	defer late.Stop()
	br := bufio.NewReaderSize(body, 64<<10)
	var (
		buf []byte
		dec decoder
	)
	for {
		kind, p, err := readFrame(br, &buf)
		if err == nil {
			dog.Reset(r.c.o.LostAfter)
			err = r.frame(l, kind, p, &dec, cfg, dog)
		}
		if err == nil {
			continue
		}
		if l.end != nil && l.end.Error != "" && !r.stopping.Load() {
			l.lost = fmt.Sprintf("worker %s failed %.1fs into the attack: %s", l.peer.addr, time.Since(r.began).Seconds(), l.end.Error)
			r.cut()
		}
		if l.end == nil && !r.stopping.Load() {
			switch {
			case l.overdue.Load():
				err = fmt.Errorf("its results did not end by %s after the schedule's end", deadline.Sub(r.began.Add(cfg.Warmup+cfg.Duration)))
			case l.silent.Load():
				err = fmt.Errorf("no word from it for %s", r.c.o.LostAfter)
			}
			l.lost = fmt.Sprintf("worker %s lost %.1fs into the attack: %v", l.peer.addr, time.Since(r.began).Seconds(), err)
			r.cut()
		}
		return
	}
}

// frame handles one frame of a worker's stream. The watchdog counts the worker's silence, not
// the engine's: it is stopped while a result waits for the engine to take it.
func (r *remote) frame(l *link, kind byte, p []byte, dec *decoder, cfg attack.Config, dog *time.Timer) error {
	if l.end != nil {
		if l.lies++; l.lies == 1 {
			l.firstLie = fmt.Sprintf("a %q frame after its end frame", kind)
		}
		return errors.New("a frame after the end frame")
	}
	switch kind {
	case frameResult:
		res := &vegeta.Result{Attack: cfg.Scenario}
		if err := dec.result(p, res, r.began); err != nil {
			return err
		}
		l.received++
		if why := l.impossible(res, cfg, r.began); why != "" {
			if l.lies++; l.lies == 1 {
				l.firstLie = why
			}
			return nil
		}
		select {
		case r.out <- res:
		default:
			dog.Stop()
			r.out <- res
			dog.Reset(r.c.o.LostAfter)
		}
	case frameEnd:
		var e end
		if err := json.Unmarshal(p, &e); err != nil {
			return fmt.Errorf("end frame: %w", err)
		}
		l.end = &e
		if e.Sent != l.received {
			if l.lies++; l.lies == 1 {
				l.firstLie = fmt.Sprintf("its end frame says %d results sent, %d came", e.Sent, l.received)
			}
		}
	case frameBeat:
	default:
		return fmt.Errorf("unknown frame kind %q", kind)
	}
	return nil
}

// impossible says why res cannot be a result of l's shard of cfg's schedule, or "": of another
// shard, seen before, due after the schedule's end, sent before it was due or long after the
// end, with a negative latency, or coming back before it was sent. It marks res seen.
func (l *link) impossible(res *vegeta.Result, cfg attack.Config, began time.Time) string {
	seq, n := res.Seq, uint64(max(l.shard.Count, 1))
	sent := res.Timestamp.Sub(began)
	end := cfg.Warmup + cfg.Duration
	due, scheduled := attack.IntendedOffset(cfg.Pacer, seq)
	switch {
	case seq%n != uint64(l.shard.Index):
		return fmt.Sprintf("hit %d is not of its shard %d of %d", seq, l.shard.Index, n)
	case scheduled && due > end:
		return fmt.Sprintf("hit %d is due %s into the schedule, after its end %s", seq, due, end)
	case scheduled && sent < due-earlyTolerance:
		return fmt.Sprintf("hit %d says it was sent %s into the schedule, before it was due at %s", seq, sent, due)
	case sent < -earlyTolerance || sent > end+lateTolerance:
		return fmt.Sprintf("hit %d says it was sent %s into a schedule of %s", seq, sent, end)
	case res.Latency < 0:
		return fmt.Sprintf("hit %d has a negative latency %s", seq, res.Latency)
	case res.Timestamp.Add(res.Latency).After(time.Now().Add(lateTolerance)):
		return fmt.Sprintf("hit %d says it came back %s from now", seq, time.Until(res.Timestamp.Add(res.Latency)))
	}
	j := seq / n
	if l.seen == nil {
		l.seen = map[uint64]uint64{}
	}
	word, bit := l.seen[j/64], uint64(1)<<(j%64)
	if word&bit != 0 {
		return fmt.Sprintf("hit %d came twice", seq)
	}
	l.seen[j/64] = word | bit
	return ""
}

// Stop tells every worker to stop (POST /v1/stop); their streams end with their last results,
// or are closed after stopGrace.
func (r *remote) Stop() {
	r.stopOnce.Do(func() {
		r.stopping.Store(true)
		for _, l := range r.links {
			r.stops.Go(func() { r.c.stop(l.peer.addr) })
		}
		r.grace = time.AfterFunc(stopGrace, func() {
			for _, l := range r.links {
				l.cancel()
			}
		})
	})
}

// Finish adds each worker's clock, peak in flight and loss to its row, the clock check, and
// the loss that cut the attack.
func (r *remote) Finish(f *attack.Figures) {
	r.stops.Wait()
	if r.grace != nil {
		r.grace.Stop()
	}
	f.PeakInFlight = 0
	for i, l := range r.links {
		l.cancel()
		if l.end != nil {
			// The sum of the workers' peaks: an upper bound of the merged peak, since they
			// need not peak together.
			f.PeakInFlight += l.end.PeakInFlight
		}
		if i < len(f.Workers) {
			w := &f.Workers[i]
			w.ClockOffsetMs, w.ClockUncertaintyMs = summary.Ms(l.clock.offset), summary.Ms(l.clock.rtt/2)
			w.Lost = l.lost
			if l.end != nil {
				w.PeakInFlight = l.end.PeakInFlight
			}
		}
		if l.lost != "" && f.Cut == "" {
			f.Cut, f.Interrupted = l.lost, true
		}
	}
	f.Checks = append(f.Checks, clockCheck(r.links, r.c.o.MaxClockUncertainty), honestyCheck(r.links))
}

// honestyCheck returns the check that every worker's results were possible ones of its shard,
// each once, and as many as its end frame says it sent. The impossible ones were left out of
// every figure; the check says which worker cannot be trusted.
func honestyCheck(links []*link) summary.Check {
	var liars []string
	for _, l := range links {
		if l.lies > 0 {
			liars = append(liars, fmt.Sprintf("worker %s: %d impossible (first: %s)", l.peer.addr, l.lies, l.firstLie))
		}
	}
	got := "every result possible, once, and counted"
	if len(liars) > 0 {
		got = strings.Join(liars, "; ")
	}
	return summary.NewCheck(summary.Validity, "workers honest", len(liars) == 0,
		"every worker's results are of its shard, within the schedule, once each, and as many as it says it sent", got)
}

// clockCheck returns the check that every worker's start time was corrected by an offset known
// within the limit.
func clockCheck(links []*link, limit time.Duration) summary.Check {
	worst := links[0]
	offsets := make([]string, len(links))
	for i, l := range links {
		if l.clock.rtt > worst.clock.rtt {
			worst = l
		}
		offsets[i] = fmt.Sprintf("%+.3f", summary.Ms(l.clock.offset))
	}
	u := worst.clock.rtt / 2
	return summary.NewCheck(summary.Validity, "worker clocks", u <= limit,
		fmt.Sprintf("every worker's clock offset known within ±%s", limit),
		fmt.Sprintf("±%.3f ms at worst (worker %s); offsets %s ms", summary.Ms(u), worst.peer.addr, strings.Join(offsets, ", ")))
}

func (c *Coordinator) stop(addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/stop", nil)
	if err != nil {
		return
	}
	if resp, err := c.do(c.control, req); err == nil {
		resp.Body.Close()
	}
}

// offset is a worker's clock offset (its clock − ours) measured over the quickest of several
// exchanges; the true offset is within rtt/2 of it.
type offset struct {
	offset, rtt time.Duration
}

// exchanges is how many clock readings a measurement takes: the first pays for the
// connection, and the quickest of the rest bounds the error.
const exchanges = 8

// measure reads p's clock several times and keeps the reading of the quickest round trip,
// taking the worker's reading to be from the middle of it.
func (c *Coordinator) measure(ctx context.Context, p peer) (offset, error) {
	best := offset{rtt: -1}
	var firstErr error
	for range exchanges {
		var cr clockReading
		t0 := time.Now()
		err := c.get(ctx, p.addr, "/v1/clock", &cr)
		rtt := time.Since(t0)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if best.rtt < 0 || rtt < best.rtt {
			best = offset{offset: time.Unix(0, cr.UnixNano).Sub(t0.Add(rtt / 2)), rtt: rtt}
		}
	}
	if best.rtt < 0 {
		return offset{}, firstErr
	}
	return best, nil
}
