package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolCollector exports pgxpool.Stat as the pgxpool_* metrics of docs/contracts.md. It reads the
// stats at scrape time, so it costs nothing between scrapes.
type PoolCollector struct {
	pool *pgxpool.Pool

	acquired, idle, total, max, constructing              *prometheus.Desc
	acquireCount, canceledAcquire, emptyAcquire, newConns *prometheus.Desc
	acquireDuration                                       *prometheus.Desc
}

var _ prometheus.Collector = (*PoolCollector)(nil)

// NewPoolCollector returns a collector for pool; register it on the admin registry.
func NewPoolCollector(pool *pgxpool.Pool) *PoolCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &PoolCollector{
		pool:            pool,
		acquired:        d("pgxpool_acquired_conns", "Connections currently acquired from the pool."),
		idle:            d("pgxpool_idle_conns", "Idle connections in the pool."),
		total:           d("pgxpool_total_conns", "Connections in the pool (acquired, idle and constructing)."),
		max:             d("pgxpool_max_conns", "Maximum size of the pool."),
		constructing:    d("pgxpool_constructing_conns", "Connections being established."),
		acquireCount:    d("pgxpool_acquire_count_total", "Successful acquires from the pool."),
		canceledAcquire: d("pgxpool_canceled_acquire_count_total", "Acquires cancelled by their context."),
		emptyAcquire:    d("pgxpool_empty_acquire_count_total", "Acquires that had to wait because no connection was idle."),
		newConns:        d("pgxpool_new_conns_count_total", "Connections opened by the pool."),
		acquireDuration: d("pgxpool_acquire_duration_seconds_total", "Total time spent waiting to acquire a connection."),
	}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.total, c.max, c.constructing,
		c.acquireCount, c.canceledAcquire, c.emptyAcquire, c.newConns, c.acquireDuration} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	k := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(c.acquired, float64(s.AcquiredConns()))
	g(c.idle, float64(s.IdleConns()))
	g(c.total, float64(s.TotalConns()))
	g(c.max, float64(s.MaxConns()))
	g(c.constructing, float64(s.ConstructingConns()))
	k(c.acquireCount, float64(s.AcquireCount()))
	k(c.canceledAcquire, float64(s.CanceledAcquireCount()))
	k(c.emptyAcquire, float64(s.EmptyAcquireCount()))
	k(c.newConns, float64(s.NewConnsCount()))
	k(c.acquireDuration, s.AcquireDuration().Seconds())
}
