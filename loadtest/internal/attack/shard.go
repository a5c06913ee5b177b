package attack

import (
	"fmt"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Shard is one worker's share of a schedule: the hits whose sequence number is ≡ Index (mod
// Count), so that Count workers together send exactly the hits one process would. The zero
// value (and Count 1) is the whole schedule.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Global returns the schedule's sequence number of the shard's hit local (0-based).
func (s Shard) Global(local uint64) uint64 {
	if s.Count <= 1 {
		return local
	}
	return uint64(s.Index) + local*uint64(s.Count)
}

// Whole reports whether s is the whole schedule.
func (s Shard) Whole() bool { return s.Count <= 1 }

// Valid reports whether s names a share: 0 ≤ Index < Count, or the whole schedule.
func (s Shard) Valid() bool {
	return (s.Count == 0 && s.Index == 0) || (s.Count > 0 && s.Index >= 0 && s.Index < s.Count)
}

// ShardPacer paces one shard of Pacer's schedule: the shard's hit j is the schedule's hit
// Shard.Global(j), sent when Pacer would send it. vegeta's pacers decide from the hits sent so
// far (hit n of a ConstantPacer is due at (n+1)·interval, and one running behind sends at once),
// so asking them about the schedule's hit number keeps every worker on the one timeline.
type ShardPacer struct {
	Pacer vegeta.Pacer
	Shard Shard
}

var _ vegeta.Pacer = ShardPacer{}

// Pace is Pacer's wait for the schedule's hit that is the shard's next one.
func (p ShardPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return p.Pacer.Pace(elapsed, p.Shard.Global(hits))
}

// Rate is the shard's share of Pacer's rate.
func (p ShardPacer) Rate(elapsed time.Duration) float64 {
	return p.Pacer.Rate(elapsed) / float64(max(1, p.Shard.Count))
}

// shardStats keeps each worker's part of a merged attack: hit seq came from worker seq mod n.
// Its lateness digests are read once, in rows.
type shardStats struct {
	names []string
	pacer vegeta.Pacer
	began time.Time
	by    []shardRow
}

type shardRow struct {
	requests, errors int64
	lateness         vegeta.LatencyMetrics
	first            time.Duration // its first hit's actual − intended send time, signed
	hasFirst         bool
}

func newShardStats(cfg Config, began time.Time) *shardStats {
	return &shardStats{names: cfg.Shards, pacer: cfg.Pacer, began: began, by: make([]shardRow, len(cfg.Shards))}
}

// Add counts a hit for the worker that sent it.
func (s *shardStats) Add(h *Hit) {
	n := uint64(len(s.by))
	row := &s.by[h.Seq%n]
	if h.Seq < n {
		// Its first hit: when it started against when it should have, signed (a worker whose
		// clock correction is off may start early), the start skew between workers.
		if due, ok := IntendedOffset(s.pacer, h.Seq); ok {
			row.first, row.hasFirst = h.Timestamp.Sub(s.began)-due, true
		}
	}
	if !h.Counted {
		return
	}
	row.requests++
	if h.Class != "" {
		row.errors++
	}
	row.lateness.Add(h.Late)
}

// rows returns each worker's figures over the counted span.
func (s *shardStats) rows(cfg Config, counted time.Duration) []summary.Worker {
	out := make([]summary.Worker, len(s.by))
	for i := range s.by {
		r := &s.by[i]
		w := summary.Worker{Addr: s.names[i], Shard: i, Requests: r.requests, Errors: r.errors, Scheduled: -1}
		sh := ShardPacer{Pacer: cfg.Pacer, Shard: Shard{Index: i, Count: len(s.by)}}
		if n, ok := scheduled(sh, cfg.Warmup, cfg.Warmup+counted); ok {
			w.Scheduled = n
		}
		if secs := counted.Seconds(); secs > 0 {
			w.AchievedRate = float64(r.requests) / secs
		}
		if r.requests > 0 {
			w.SendLatenessP99Ms = summary.Ms(r.lateness.Quantile(0.99))
		}
		if r.hasFirst {
			w.FirstSendLateMs = summary.Ms(r.first)
		}
		out[i] = w
	}
	return out
}

// workersCheck is the generator's validity per worker: each sent ≥ 99 % of its share of the
// schedule (one hit of slack, as for the whole) with a send lateness p99 within the limit. One
// worker that fell behind makes the scenario INVALID and is named, even when the others' share
// hides it in the merged figures.
func workersCheck(rows []summary.Worker, maxLateness time.Duration) summary.Check {
	want := fmt.Sprintf("each ≥ 99%% of its share sent, send lateness p99 ≤ %s", maxLateness)
	var behind []string
	worstLate, worstShare := 0.0, 1.0
	for _, w := range rows {
		share := 1.0
		if w.Scheduled > 0 {
			share = float64(w.Requests) / float64(w.Scheduled)
		}
		worstLate, worstShare = max(worstLate, w.SendLatenessP99Ms), min(worstShare, share)
		rateOK := w.Scheduled < 0 || w.Scheduled-w.Requests <= 1 || share >= 0.99
		if !rateOK || w.SendLatenessP99Ms > summary.Ms(maxLateness) {
			behind = append(behind, fmt.Sprintf("worker %s fell behind: %d of %d sent (%.1f%%), send lateness p99 %.2f ms",
				w.Addr, w.Requests, w.Scheduled, 100*share, w.SendLatenessP99Ms))
		}
	}
	got := fmt.Sprintf("%d workers: each ≥ %.1f%% of its share, send lateness p99 ≤ %.2f ms", len(rows), 100*worstShare, worstLate)
	if len(behind) > 0 {
		got = strings.Join(behind, "; ")
	}
	return summary.NewCheck(summary.Validity, "workers kept up", len(behind) == 0, want, got)
}
