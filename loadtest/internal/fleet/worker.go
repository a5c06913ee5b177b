package fleet

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/machine"
)

// Protocol is the version of the control API; a coordinator refuses a worker that speaks
// another.
const Protocol = 1

const (
	contentType = "application/x-loadtest-results"
	// flushEvery bounds how long a result waits in the worker's buffer before it is sent on:
	// the coordinator's live line and windows see results at most this late, and a result
	// costs a write system call only at low rates.
	flushEvery = 50 * time.Millisecond
	// beatEvery is how often a worker with nothing to send says it is alive.
	beatEvery = 500 * time.Millisecond
	// wakeEarly is how long before the start time the worker starts vegeta (see anchored).
	wakeEarly = 20 * time.Millisecond
	// WorkerGCPercent is the GOGC a worker process should run with when GOGC is not set (the
	// commands set it; a package does not change a process's runtime). A worker's live heap is
	// under 1 MB, so Go's default collects whenever 4 MB were allocated: at maximum rate that was
	// 6 collections a second per worker, about 12 µs of CPU per request (GODEBUG=gctrace=1,
	// docs/perf.md P3f). At 400 it collects every 16 MB; its memory stays bounded.
	WorkerGCPercent = 400
	// maxLead refuses a start time further ahead than this: a clock gone wrong, not a plan.
	maxLead = time.Minute
	// stallAfter is how long a write to the results stream may block before the worker gives
	// up on its coordinator and stops its attack: the coordinator's own silence limit
	// (DefaultLostAfter), so a worker stops about when its coordinator would call it lost.
	stallAfter = DefaultLostAfter
)

// MinKeyLen is the shortest worker key taken, in bytes: a worker sends load wherever its plan
// says, so its key guards an amplifier, and a short one can be guessed even at the throttled
// rate. NewKey makes a good one.
const MinKeyLen = 32

// NewKey returns a random key (32 bytes, hex) for LOADTEST_WORKER_KEY.
func NewKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("worker key: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// checkKey says why key cannot guard a worker, or nil. It never quotes the key.
func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("no worker key (LOADTEST_WORKER_KEY): make one with `openssl rand -hex 32` and give it to the workers and the coordinator")
	case len(key) < MinKeyLen:
		return fmt.Errorf("the worker key (LOADTEST_WORKER_KEY) is %d bytes: want at least %d (`openssl rand -hex 32`)", len(key), MinKeyLen)
	}
	return nil
}

// WorkerOptions configure a Worker.
type WorkerOptions struct {
	// Key must be sent by the coordinator as "Authorization: Bearer <Key>" on every request;
	// required, at least MinKeyLen bytes. A worker sends load wherever its plan says: without a
	// key, anyone who reaches its port could aim it anywhere.
	Key string
	// ClockSkew is test-only: the worker's clock reads this much ahead of the machine's, as a
	// remote machine's clock may, to show the coordinator measures and corrects it.
	ClockSkew time.Duration
	// Lag is test-only: every send waits this much longer than the pacer asks, so the worker
	// falls behind its share.
	Lag time.Duration
	Log io.Writer // one line per attack; nil: none
}

// Worker serves the control API of one load generator (`loadtest worker`): GET /v1/ready,
// GET /v1/clock, POST /v1/attack (a Plan; the answer streams the results) and POST /v1/stop,
// every one only to a holder of its key. It runs one attack at a time and never starts one on
// its own.
type Worker struct {
	o     WorkerOptions
	host  string
	pid   int
	fails *throttle

	mu   sync.Mutex
	busy bool
	stop chan struct{} // closed by Stop for the attack that runs
}

// NewWorker returns a worker; it refuses a missing or short key.
func NewWorker(o WorkerOptions) (*Worker, error) {
	if err := checkKey(o.Key); err != nil {
		return nil, err
	}
	return &Worker{o: o, host: machine.ProcessNamespace(), pid: os.Getpid(), fails: newThrottle()}, nil
}

// Server timeouts of the control API. A plan is at most 1 MiB and every other request has no
// body, so reading one never needs long; the results stream has its own deadline (stallAfter);
// an idle coordinator connection is kept a minute, across the pause between two attacks.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	idleTimeout       = time.Minute
)

// Server is an http.Server for the control API with its read and idle timeouts set.
func (w *Worker) Server() *http.Server {
	return &http.Server{Handler: w.Handler(), ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, IdleTimeout: idleTimeout}
}

// Handler is the control API.
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ready", w.ready)
	mux.HandleFunc("GET /v1/clock", w.clockNow)
	mux.HandleFunc("POST /v1/attack", w.attack)
	mux.HandleFunc("POST /v1/stop", func(rw http.ResponseWriter, _ *http.Request) {
		w.Stop()
		rw.WriteHeader(http.StatusNoContent)
	})
	return w.auth(mux)
}

// auth lets through only requests with the key, compared in constant time. A client that
// failed too often recently gets 429 without its key being looked at, so guessing runs at the
// throttle's rate however fast the guesses come.
func (w *Worker) auth(next http.Handler) http.Handler {
	want := []byte("Bearer " + w.o.Key)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		client := clientOf(r.RemoteAddr)
		if !w.fails.allow(client, time.Now()) {
			rw.Header().Set("Retry-After", "1")
			http.Error(rw, "too many requests with a wrong worker key", http.StatusTooManyRequests)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.fails.fail(client, time.Now())
			http.Error(rw, "missing or wrong worker key", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// Stop stops the attack that runs, if any; its stream still ends with its end frame.
func (w *Worker) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stop != nil {
		close(w.stop)
		w.stop = nil
	}
}

func (w *Worker) clock() time.Time { return time.Now().Add(w.o.ClockSkew) }

// readiness is GET /v1/ready's answer. Host and PID let a coordinator on the same machine count
// the worker's CPU as the benchmark's own, not a neighbour's.
type readiness struct {
	Protocol int    `json:"protocol"`
	Busy     bool   `json:"busy"`
	PID      int    `json:"pid"`
	Host     string `json:"host"`
}

func (w *Worker) ready(rw http.ResponseWriter, _ *http.Request) {
	w.mu.Lock()
	busy := w.busy
	w.mu.Unlock()
	writeJSON(rw, readiness{Protocol: Protocol, Busy: busy, PID: w.pid, Host: w.host})
}

// clockReading is GET /v1/clock's answer: the worker's clock when it answered.
type clockReading struct {
	UnixNano int64 `json:"unix_nano"`
}

func (w *Worker) clockNow(rw http.ResponseWriter, _ *http.Request) {
	writeJSON(rw, clockReading{UnixNano: w.clock().UnixNano()})
}

func writeJSON(rw http.ResponseWriter, v any) {
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(v)
}

// attack takes a plan, answers 200 at once and streams the results; 400 for a bad plan, 409
// while another attack runs.
func (w *Worker) attack(rw http.ResponseWriter, r *http.Request) {
	var p Plan
	if err := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 1<<20)).Decode(&p); err != nil {
		http.Error(rw, "plan: "+err.Error(), http.StatusBadRequest)
		return
	}
	cfg, err := p.config(w.o.Lag)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	lead := time.Unix(0, p.StartUnixNano).Sub(w.clock())
	if lead <= 0 || lead > maxLead {
		http.Error(rw, fmt.Sprintf("plan: start time %s from now (want within (0, %s])", lead, maxLead), http.StatusBadRequest)
		return
	}
	stop, ok := w.claim()
	if !ok {
		http.Error(rw, "busy with another attack", http.StatusConflict)
		return
	}
	defer w.release()
	rc := http.NewResponseController(rw)
	// The plan is read: from here the connection is the results stream, bounded by its write
	// deadline (stallAfter), not by the time allowed to read a request.
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		http.Error(rw, "clear the read deadline: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// The schedule's start on this process's monotonic clock: immune to the wall clock moving
	// during the attack.
	t0 := time.Now().Add(lead)
	rw.Header().Set("Content-Type", contentType)
	rw.WriteHeader(http.StatusOK)
	s := &stream{w: bufio.NewWriterSize(rw, 64<<10), rc: rc, t0: t0, last: time.Now()}
	s.deadline(time.Now())
	s.flush()
	f := &fault{}
	e := w.run(r.Context(), cfg, p.anchored(cfg.Pacer, t0, f), stop, s, f)
	if e.Error == "" && s.err != nil {
		e.Error = "results stream: " + s.err.Error()
	}
	b, _ := json.Marshal(e) // a plain struct: it cannot fail
	s.deadline(time.Now())
	s.frame(frameEnd, b)
	s.flush()
	w.logf("attack %s shard %d/%d: %d results sent, stopped %v", p.Scenario, p.Shard.Index, p.Shard.Count, e.Sent, e.Stopped)
}

func (w *Worker) claim() (<-chan struct{}, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.busy {
		return nil, false
	}
	w.busy, w.stop = true, make(chan struct{})
	return w.stop, true
}

func (w *Worker) release() {
	w.mu.Lock()
	w.busy, w.stop = false, nil
	w.mu.Unlock()
}

func (w *Worker) logf(format string, a ...any) {
	if w.o.Log != nil {
		fmt.Fprintf(w.o.Log, format+"\n", a...)
	}
}

// run waits for the start time, then sends its shard and streams each result until the attack
// ends, is stopped, or the coordinator goes (its connection closes: ctx) or stops reading (a
// write stalls for stallAfter). The wait beats, so a coordinator can tell a waiting worker
// from a dead one. A panic in the pacer or the targeter (f) ends the attack with an error.
func (w *Worker) run(ctx context.Context, cfg attack.Config, pacer anchored, stop <-chan struct{}, s *stream, f *fault) end {
	wake := time.NewTimer(time.Until(s.t0) - wakeEarly)
	defer wake.Stop()
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			return end{Stopped: true}
		case <-stop:
			return end{Stopped: true}
		case now := <-tick.C:
			if s.tick(now); s.err != nil {
				return end{Stopped: true}
			}
		case <-wake.C:
			waiting = false
		}
	}
	// vegeta starts now, before t0, and paces from t0, where the pacer also ends the schedule;
	// vegeta's own duration runs from now and is only a backstop, a second longer.
	cfg.Pacer = pacer
	cfg.Targeter = f.targeter(attack.NewTargeter(cfg.Targets))
	cfg.Warmup += max(time.Until(s.t0), 0) + time.Second
	src := &attack.Local{}
	_, results, err := src.Start(ctx, cfg)
	if err != nil {
		return end{Error: err.Error()}
	}
	var e end
	done := ctx.Done()
	// halt stops sending once: the coordinator is gone or deaf, or the attack failed. The
	// results in flight are still drained, so that vegeta's goroutines end.
	halt := func() {
		if done != nil {
			done, stop, e.Stopped = nil, nil, true
			src.Stop()
		}
	}
	for {
		select {
		case <-done:
			halt()
		case <-stop:
			stop, e.Stopped = nil, true
			src.Stop()
		case now := <-tick.C:
			s.tick(now)
			if s.err != nil || f.get() != "" {
				halt()
			}
		case r, ok := <-results:
			if !ok {
				var fig attack.Figures
				src.Finish(&fig)
				e.PeakInFlight, e.Error = fig.PeakInFlight, f.get()
				return e
			}
			src.Returned()
			w.send(s, r, cfg.Targets.Shard)
			e.Sent++
			if s.err != nil {
				halt()
			}
		}
	}
}

// send streams r as the schedule's hit. Its timestamp travels as an offset from the schedule's
// start, which the coordinator maps to its own start: a skewed clock moves both alike.
func (w *Worker) send(s *stream, r *vegeta.Result, shard attack.Shard) {
	attack.Trim(r)
	r.Seq = shard.Global(r.Seq)
	s.result(r)
}

// stream writes frames to the coordinator through a buffer that is flushed every flushEvery
// (or when full). A write blocks while the coordinator does not read: the backpressure reaches
// the worker's loop instead of a queue.
type stream struct {
	w       *bufio.Writer
	rc      *http.ResponseController
	t0      time.Time
	buf     []byte
	last    time.Time // last flush
	pending bool
	err     error // the first write failure: the coordinator is gone
}

func (s *stream) result(r *vegeta.Result) {
	s.buf = appendResult(s.buf[:0], r, s.t0)
	s.frame(frameResult, s.buf)
}

func (s *stream) frame(kind byte, payload []byte) {
	if s.err != nil {
		return
	}
	var head [1 + binary.MaxVarintLen64]byte
	if _, err := s.w.Write(appendHead(head[:0], kind, len(payload))); err != nil {
		s.err = err
		return
	}
	if _, err := s.w.Write(payload); err != nil {
		s.err = err
	}
	s.pending = true
}

// tick flushes what is pending, or sends a beat after beatEvery of silence. It moves the
// write deadline stallAfter ahead: while a write blocks, the loop does not tick, so a write
// blocked that long fails and the worker stops, instead of vegeta starting a goroutine per
// due hit, each holding a result nobody takes.
func (s *stream) tick(now time.Time) {
	s.deadline(now)
	if !s.pending && now.Sub(s.last) >= beatEvery {
		s.frame(frameBeat, nil)
	}
	if s.pending {
		s.flush()
	}
}

// deadline lets the writes from now on block for stallAfter at most.
func (s *stream) deadline(now time.Time) {
	if s.err == nil {
		if err := s.rc.SetWriteDeadline(now.Add(stallAfter)); err != nil {
			s.err = err
		}
	}
}

func (s *stream) flush() {
	s.last, s.pending = time.Now(), false
	if s.err != nil {
		return
	}
	if err := s.w.Flush(); err != nil {
		s.err = err
		return
	}
	if err := s.rc.Flush(); err != nil {
		s.err = err
	}
}
