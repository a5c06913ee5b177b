// Package sampler reads the server's side of a scenario: its admin /metrics (goroutines, heap,
// in-flight requests, pool stats, cancelled requests, shutdown state), PostgreSQL's
// pg_stat_activity for the server's own connections and, when asked (WatchNet), the kernel's
// view of its API port (netsig), at a fixed interval, into summary.Samples.
//
// It reaches the server only over HTTP and the database only through the harness's own
// connection, so it sees what an operator would see.
package sampler

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/benchharness/benchharness/loadtest/internal/machine"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Querier is the one database method the sampler needs; *pgxpool.Pool and *pgx.Conn have it.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Sampler takes readings of one server. The zero value is not usable; call New.
type Sampler struct {
	metricsURL  string  // "" : no metrics
	pprofURL    string  // goroutines from the goroutine profile's total ("" : from metrics)
	db          Querier // nil: pg_stat_activity is not read
	appName     string  // the server's application_name: only its sessions count
	pid         int     // the server's process when it runs here (RSS and fds from /proc); 0: from metrics
	client      *http.Client
	interval    time.Duration
	fineUntil   atomic.Int64  // unix ns: until then Run reads the server every tick (Fine)
	serverEvery time.Duration // Run reads the server's admin pages at most this often (≤ interval: every tick)
	net         *netWatch     // nil: the kernel's view is not read (WatchNet)

	mu      sync.Mutex
	samples []summary.Sample
	sched   cumulative // the scheduler-latency histogram at the previous scrape
}

// DefaultInterval is the interval of a sampler given none, and a run's (scenario.Settings.SampleEvery).
const DefaultInterval = 100 * time.Millisecond

// DefaultServerEvery is a run's server-read interval (scenario.Settings.ServerEvery): at about
// one scrape a second the sampler's share of the server's CPU stays within 2 % (docs/perf.md, P5).
const DefaultServerEvery = time.Second

// New returns a sampler of the server whose admin listener is adminURL (e.g.
// http://127.0.0.1:6060) and whose PostgreSQL sessions are named appName (pg_stat_activity is
// filtered on it, so the harness's own queries and other servers' sessions never count). db may
// be nil (no database figures). interval ≤ 0 means DefaultInterval.
func New(adminURL string, db Querier, appName string, interval time.Duration) *Sampler {
	return NewFor(summary.Signals{MetricsURL: adminURL + "/metrics", Goroutines: FromMetrics}, db, appName, 0, interval)
}

// NewFor returns a sampler of whatever sig found (see Probe): metrics from sig.MetricsURL,
// goroutines from the goroutine profile when sig.Goroutines is FromPprof. pid is the server's
// process when it runs on this machine: its resident memory and open descriptors are then read
// from /proc (0: from the process collector's metrics, when the server has them).
func NewFor(sig summary.Signals, db Querier, appName string, pid int, interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = DefaultInterval
	}
	s := &Sampler{
		metricsURL: sig.MetricsURL,
		db:         db,
		appName:    appName,
		pid:        pid,
		// A scrape must never take longer than the interval by much: a stuck server would
		// otherwise stretch the timeline. 1 s still tolerates a loaded 2-core machine.
		client:   &http.Client{Timeout: time.Second},
		interval: interval,
	}
	if sig.Goroutines == FromPprof {
		s.pprofURL = sig.PprofURL
	}
	return s
}

// queryTimeout bounds one pg_stat_activity reading, as the client's timeout bounds a scrape.
const queryTimeout = time.Second

// pgActivityQuery counts the server's active statements, of those the ones sleeping in the
// bench delay (pg_sleep), and all of its sessions, excluding this connection; it lists the
// wait event of each active statement that waits (NULL when none does). One scan: the list
// is an aggregate of the same rows, cheaper than a second GROUP BY
// (docs/design/harness-evidence.md).
const pgActivityQuery = `
SELECT count(*) FILTER (WHERE state = 'active'),
       count(*) FILTER (WHERE state = 'active' AND query ILIKE '%pg_sleep%'),
       count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock'),
       count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'IO'),
       count(*),
       array_agg(wait_event_type || ':' || wait_event) FILTER (WHERE state = 'active' AND wait_event IS NOT NULL)
FROM pg_stat_activity
WHERE application_name = $1 AND pid <> pg_backend_pid()`

// Sample takes one reading now. offset is stored as the sample's OffsetMs. A failed scrape or
// query is marked on the sample rather than returned: a gap in the timeline is data (the server
// may be down), not a reason to stop sampling.
func (s *Sampler) Sample(ctx context.Context, offset time.Duration) summary.Sample {
	sm := summary.Sample{OffsetMs: summary.Ms(offset)}
	if s.metricsURL != "" {
		if fams, err := s.scrape(ctx); err != nil {
			sm.ScrapeFailed = true
		} else {
			fill(&sm, fams)
			s.fillSched(&sm, fams)
		}
	}
	if s.pprofURL != "" {
		if n, err := goroutineTotal(ctx, s.client, s.pprofURL); err != nil {
			sm.ScrapeFailed = true
		} else {
			sm.Goroutines = n
		}
	}
	s.fillLocal(ctx, &sm, true)
	return sm
}

// sampleLocal takes a reading without asking the server: the server's figures come from prev.
func (s *Sampler) sampleLocal(ctx context.Context, offset time.Duration, prev summary.Sample) summary.Sample {
	sm := prev
	sm.OffsetMs = summary.Ms(offset)
	sm.DBQueryFailed = false
	sm.DBWaits = nil
	sm.Net = nil
	s.fillLocal(ctx, &sm, false)
	return sm
}

// fillLocal adds the readings that cost the server nothing: /proc, pg_stat_activity, the kernel
// (the port's connections by state only withConns: they cost the harness most of its sampling
// CPU when read every tick).
func (s *Sampler) fillLocal(ctx context.Context, sm *summary.Sample, withConns bool) {
	if s.pid > 0 {
		if rss, fds, ok := machine.ProcessResources(s.pid); ok {
			sm.RSSBytes, sm.OpenFDs = rss, fds
		}
	}
	if s.db != nil {
		var active, sleeping, lock, io, sessions int64
		var waits []string
		// Bounded like the scrape: a database that stopped answering is a failed reading, not
		// a sampler stuck until the run ends.
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		err := s.db.QueryRow(qctx, pgActivityQuery, s.appName).Scan(&active, &sleeping, &lock, &io, &sessions, &waits)
		cancel()
		if err != nil {
			sm.DBQueryFailed = true
		} else {
			sm.DBActive, sm.DBSleeping, sm.DBSessions = float64(active), float64(sleeping), float64(sessions)
			sm.DBLockWaits, sm.DBIOWaits = float64(lock), float64(io)
			sm.DBWaits = countWaits(waits)
		}
	}
	if s.net != nil {
		sm.Net = s.net.sample(withConns)
	}
}

// countWaits counts the wait events of the active sessions (nil when none waited).
func countWaits(waits []string) map[string]int {
	if len(waits) == 0 {
		return nil
	}
	n := make(map[string]int, len(waits))
	for _, w := range waits {
		n[w]++
	}
	return n
}

// SetServerEvery makes Run read the server's own pages (metrics, goroutine profile) at most
// every d, while the readings that cost the server nothing (pg_stat_activity, /proc, the
// kernel's view) keep the interval: the server pays for every scrape it renders. The samples in
// between carry the last server reading forward. d ≤ the interval: every tick (New's default).
// Call it before Run.
func (s *Sampler) SetServerEvery(d time.Duration) { s.serverEvery = d }

// Fine makes Run read the server every tick until the time until: the checks that read the
// server's state at a moment (the idle baseline, the settle after the attack) need a current
// reading, not one a second old.
func (s *Sampler) Fine(until time.Time) { s.fineUntil.Store(until.UnixNano()) }

// Run samples every interval from now until ctx is done, offsets measured from start. It keeps
// every sample (Samples returns them); a 3-minute run at 100 ms is under 2000 small structs.
func (s *Sampler) Run(ctx context.Context, start time.Time) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	var last summary.Sample // the newest reading that read the server
	var lastAt time.Time
	for {
		now := time.Now()
		var sm summary.Sample
		if lastAt.IsZero() || s.serverEvery <= s.interval || now.UnixNano() < s.fineUntil.Load() ||
			now.Sub(lastAt) >= s.serverEvery-s.interval/2 {
			sm = s.Sample(ctx, now.Sub(start))
			last, lastAt = sm, now
		} else {
			sm = s.sampleLocal(ctx, now.Sub(start), last)
		}
		if ctx.Err() != nil {
			return // a reading cut by cancellation is not a reading
		}
		s.mu.Lock()
		s.samples = append(s.samples, sm)
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Samples returns a copy of the samples taken so far, oldest first.
func (s *Sampler) Samples() []summary.Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]summary.Sample(nil), s.samples...)
}

// Last returns the newest sample and whether there is one.
func (s *Sampler) Last() (summary.Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return summary.Sample{}, false
	}
	return s.samples[len(s.samples)-1], true
}

func (s *Sampler) scrape(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.metricsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.metricsURL, err)
	}
	// Ask for the classic text format: TextParser reads only that.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.metricsURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("scrape %s: status %d", s.metricsURL, resp.StatusCode)
	}
	return Parse(resp.Body)
}

// Parse reads a Prometheus text exposition.
func Parse(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}

// The series fill reads besides the MetricXxx names probe.go checks for.
const (
	metricHeap      = "go_memstats_heap_alloc_bytes"
	metricPoolIdle  = "pgxpool_idle_conns"
	metricPoolTotal = "pgxpool_total_conns"
	metricPoolMax   = "pgxpool_max_conns"
	metricState     = "server_state"

	// What a diagnosis reads.
	metricPoolWait   = "pgxpool_acquire_duration_seconds_total"
	metricRunnable   = "go_sched_goroutines_runnable_goroutines"
	metricSchedLat   = "go_sched_latencies_seconds"
	metricCPUTotal   = "go_cpu_classes_total_cpu_seconds_total"
	metricCPUIdle    = "go_cpu_classes_idle_cpu_seconds_total"
	metricGCTotal    = "go_cpu_classes_gc_total_cpu_seconds_total"
	metricGCIdleMark = "go_cpu_classes_gc_mark_idle_cpu_seconds_total"
	metricGCAssist   = "go_cpu_classes_gc_mark_assist_cpu_seconds_total"
	metricMutexWait  = "go_sync_mutex_wait_total_seconds_total"
)

// Series names every series a sample reads: a compact page (CompactPath) must serve them all.
func Series() []string {
	return []string{MetricGoroutines, metricHeap, MetricInFlight, MetricPool, metricPoolIdle,
		metricPoolTotal, metricPoolMax, MetricCancelled, MetricAccepted, metricState,
		metricPoolWait, metricRunnable, metricSchedLat, metricCPUTotal, metricCPUIdle, metricGCTotal,
		metricGCIdleMark, metricGCAssist, metricMutexWait,
		MetricHeapLive, MetricOpenConns, MetricRSS, MetricOpenFDs}
}

// fill copies the families the timeline needs into sm. A missing family leaves its field 0.
func fill(sm *summary.Sample, fams map[string]*dto.MetricFamily) {
	sm.Goroutines, _ = First(fams, goroutineNames())
	sm.HeapBytes = Sum(fams, metricHeap)
	sm.InFlight, _ = First(fams, inFlightNames())
	if p := pool(fams); p != nil {
		sm.PoolAcquired, sm.PoolIdle, sm.PoolTotal, sm.PoolMax = Sum(fams, p[0]), Sum(fams, p[1]), Sum(fams, p[2]), Sum(fams, p[3])
	}
	sm.Cancelled = Sum(fams, MetricCancelled)
	sm.Accepted = Sum(fams, MetricAccepted)
	sm.HeapLiveBytes = Sum(fams, MetricHeapLive)
	sm.OpenConns = Sum(fams, MetricOpenConns)
	sm.RSSBytes = Sum(fams, MetricRSS) // /proc's reading replaces these when the process runs here
	sm.OpenFDs = Sum(fams, MetricOpenFDs)
	sm.ServerState = State(fams)
	sm.PoolWaitTotal = Sum(fams, metricPoolWait)
	sm.Runnable = Sum(fams, metricRunnable)
	sm.GoCPUTotal = Sum(fams, metricCPUTotal)
	sm.GoCPUIdleTotal = Sum(fams, metricCPUIdle)
	sm.GCCPUTotal = Sum(fams, metricGCTotal)
	sm.GCIdleMarkTotal = Sum(fams, metricGCIdleMark)
	sm.GCAssistTotal = Sum(fams, metricGCAssist)
	sm.MutexWaitTotal = Sum(fams, metricMutexWait)
}

// Sum adds the values of every series of a gauge, counter or untyped family (0 when absent).
// The server's cancelled counter is per route; the timeline wants the total.
func Sum(fams map[string]*dto.MetricFamily, name string) float64 {
	f, ok := fams[name]
	if !ok {
		return 0
	}
	var total float64
	for _, m := range f.GetMetric() {
		switch {
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		case m.GetUntyped() != nil:
			total += m.GetUntyped().GetValue()
		}
	}
	return total
}

// State returns the label value of the server_state series that is 1, or "" when none is.
func State(fams map[string]*dto.MetricFamily) string {
	f, ok := fams[metricState]
	if !ok {
		return ""
	}
	for _, m := range f.GetMetric() {
		if m.GetGauge().GetValue() != 1 {
			continue
		}
		for _, l := range m.GetLabel() {
			if l.GetName() == "state" {
				return l.GetValue()
			}
		}
	}
	return ""
}

// Stats derives the headline figures of a scenario from its samples: the baseline is the last
// sample before attackStart, the "after" reading the first one at or past settleAt, and
// SettleMs the time from attackEnd until goroutines first came back within slack of the
// baseline (−1 when they never did).
func Stats(samples []summary.Sample, attackStart, attackEnd, settleAt time.Duration, slack float64) summary.ServerStats {
	st := summary.ServerStats{SettleMs: -1}
	haveBase := false
	for _, s := range samples {
		if s.ScrapeFailed {
			continue
		}
		if s.OffsetMs <= summary.Ms(attackStart) || !haveBase {
			st.GoroutinesBaseline, haveBase = s.Goroutines, true
		}
		st.GoroutinesPeak = max(st.GoroutinesPeak, s.Goroutines)
		st.HeapPeakBytes = max(st.HeapPeakBytes, s.HeapBytes)
		st.PoolAcquiredPeak = max(st.PoolAcquiredPeak, s.PoolAcquired)
		st.PoolMaxConns = max(st.PoolMaxConns, s.PoolMax)
		st.DBActivePeak = max(st.DBActivePeak, s.DBActive)
	}
	for _, s := range samples {
		if s.ScrapeFailed || s.OffsetMs < summary.Ms(attackEnd) {
			continue
		}
		if st.SettleMs < 0 && s.Goroutines <= st.GoroutinesBaseline+slack {
			st.SettleMs = s.OffsetMs - summary.Ms(attackEnd)
		}
		st.GoroutinesAfter = s.Goroutines
		if s.OffsetMs >= summary.Ms(settleAt) {
			break
		}
	}
	return st
}

// Histogram scrapes the metrics once and returns the cumulative buckets of the histogram family
// name, its series summed (upper bounds in the family's unit, +Inf last). An error when there
// is no metrics URL or no such histogram.
func (s *Sampler) Histogram(ctx context.Context, name string) (bounds []float64, counts []uint64, err error) {
	if s.metricsURL == "" {
		return nil, nil, fmt.Errorf("histogram %s: no metrics", name)
	}
	fams, err := s.scrape(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("histogram %s: %w", name, err)
	}
	f, ok := fams[name]
	if !ok {
		return nil, nil, fmt.Errorf("histogram %s: not exported", name)
	}
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		// The text format lists the +Inf bucket; the protobuf one may leave it to the count.
		buckets := h.GetBucket()
		if n := len(buckets); n > 0 && math.IsInf(buckets[n-1].GetUpperBound(), 1) {
			buckets = buckets[:n-1]
		}
		if bounds == nil {
			for _, b := range buckets {
				bounds = append(bounds, b.GetUpperBound())
			}
			bounds = append(bounds, math.Inf(1))
			counts = make([]uint64, len(bounds))
		}
		if len(buckets)+1 != len(bounds) {
			return nil, nil, fmt.Errorf("histogram %s: series with different buckets", name)
		}
		for i, b := range buckets {
			counts[i] += b.GetCumulativeCount()
		}
		counts[len(counts)-1] += h.GetSampleCount()
	}
	if bounds == nil {
		return nil, nil, fmt.Errorf("histogram %s: not a histogram", name)
	}
	return bounds, counts, nil
}
