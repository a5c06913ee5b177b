package sampler

import (
	"math"

	dto "github.com/prometheus/client_model/go"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// cumulative is one reading of a Prometheus histogram: upper bounds and cumulative counts.
type cumulative struct {
	bounds []float64
	counts []uint64
}

// histogram reads the first series of the histogram family name (ok false when absent).
func histogram(fams map[string]*dto.MetricFamily, name string) (cumulative, bool) {
	f, ok := fams[name]
	if !ok || len(f.GetMetric()) == 0 || f.GetMetric()[0].GetHistogram() == nil {
		return cumulative{}, false
	}
	var h cumulative
	for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
		h.bounds = append(h.bounds, b.GetUpperBound())
		h.counts = append(h.counts, b.GetCumulativeCount())
	}
	return h, true
}

// quantile returns the upper bound of the bucket that holds quantile q of the observations
// made between prev and cur (0 when there were none, or the buckets differ). +Inf is reported
// as the last finite bound.
func quantile(prev, cur cumulative, q float64) float64 {
	if len(cur.counts) == 0 || (len(prev.counts) != 0 && len(prev.counts) != len(cur.counts)) {
		return 0
	}
	at := func(h cumulative, i int) uint64 {
		if len(h.counts) == 0 {
			return 0
		}
		return h.counts[i]
	}
	last := len(cur.counts) - 1
	total := at(cur, last) - at(prev, last)
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	for i := range cur.counts {
		if at(cur, i)-at(prev, i) >= want {
			if math.IsInf(cur.bounds[i], 1) && i > 0 {
				return cur.bounds[i-1]
			}
			return cur.bounds[i]
		}
	}
	return cur.bounds[last]
}

// fillSched sets sm.SchedP99Ms from the scheduler-latency histogram's rise since the previous
// scrape, and keeps this reading for the next.
func (s *Sampler) fillSched(sm *summary.Sample, fams map[string]*dto.MetricFamily) {
	h, ok := histogram(fams, metricSchedLat)
	if !ok {
		return
	}
	s.mu.Lock()
	prev := s.sched
	s.sched = h
	s.mu.Unlock()
	if len(prev.counts) == 0 {
		return // the first reading: its counts span the whole process's life
	}
	sm.SchedP99Ms = 1000 * quantile(prev, h, 0.99)
}
