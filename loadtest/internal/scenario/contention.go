package scenario

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/benchharness/benchharness/loadtest/internal/contention"
	"github.com/benchharness/benchharness/loadtest/internal/machine"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// schedLatencies is the server's Go scheduling-latency histogram (client_golang's name for the
// runtime's /sched/latencies:seconds).
const schedLatencies = "go_sched_latencies_seconds"

// monitor returns a contention monitor of the benchmark's processes, nil when they do not all
// run here: a server the harness started and a database whose backends are local processes.
func (rn *Runner) monitor(l *Live) *contention.Monitor {
	if l.Server.Process == nil || rn.DB == nil {
		return nil
	}
	var (
		mu      sync.Mutex
		db      []int
		readAt  time.Time
		harness = append([]int{os.Getpid()}, rn.Helpers...)
	)
	procs := func(ctx context.Context) (contention.Procs, bool) {
		mu.Lock()
		defer mu.Unlock()
		// The pool opens its connections at start; asking once a second finds a late one.
		if time.Since(readAt) >= time.Second {
			if pids, ok := rn.backends(ctx, l); ok {
				db, readAt = pids, time.Now()
			}
		}
		if len(db) == 0 {
			return contention.Procs{}, false
		}
		server := []int{l.Server.Process.PID()}
		for _, a := range l.adoptedServers() { // a deploy's new server
			if a.Process != nil {
				server = append(server, a.Process.PID())
			}
		}
		return contention.Procs{contention.Server: server, contention.Database: db, contention.Harness: harness}, true
	}
	sched := func(ctx context.Context) (contention.Histogram, error) {
		b, c, err := l.Sampler.Histogram(ctx, schedLatencies)
		return contention.Histogram{Bounds: b, Counts: c}, err
	}
	return contention.NewMonitor(procs, sched, 0)
}

// backends are the pids of the PostgreSQL backends of the server and of the harness that run
// on this machine.
func (rn *Runner) backends(ctx context.Context, l *Live) ([]int, bool) {
	ctx, cancel := context.WithTimeout(ctx, dbQueryTimeout)
	defer cancel()
	apps := []string{l.Server.DBApplication(), HarnessApplication}
	for _, a := range l.adoptedServers() {
		apps = append(apps, a.DBApplication())
	}
	rows, err := rn.DB.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = ANY($1)`, apps)
	if err != nil {
		return nil, false
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, false
	}
	local := pids[:0]
	for _, pid := range pids {
		if machine.IsProcess(pid, "postgres") {
			local = append(local, pid)
		}
	}
	return local, len(local) > 0
}

// contended lays the monitor's readings over the judged step's windows and applies the
// neighbour rule to the judged p99; nil when not measured.
func contended(l *Live, windows []summary.Window, judgedMs float64) *summary.Contention {
	if l.Contention == nil {
		return nil
	}
	points := l.Contention.Points()
	if len(points) == 0 {
		return nil
	}
	c := contention.Summarise(points, windows)
	c.Neighbour = contention.Neighbour(c, judgedMs, l.Settings.MaxNeighbourShare)
	return &c
}

// neighbourCheck: our threads waiting for a CPU slow the server the way a slow server would;
// when they waited enough to move the judged p99, the figures judge the machine: INVALID, as
// when the generator falls behind.
func neighbourCheck(c *summary.Contention, maxShare float64) summary.Check {
	n, w := c.Neighbour, windowAt(c, c.Neighbour.WindowStartMs)
	return summary.NewCheck(summary.Validity, "neighbour", !n.Moved,
		fmt.Sprintf("in the p99's window, no role on a request's path waited %.0f%% of the judged p99 per run in a quarter second", 100*maxShare),
		fmt.Sprintf("%.2f ms at %.0f s (%.0f%% of p99 %.1f ms; worst quarter second per run: server %.2f, database %.2f, harness %.2f ms; path delay %.2f ms; others ran %.2f CPUs; %.2f%% of the server's wake-ups waited > %g ms)",
			n.PeakDelayMs, n.WindowStartMs/1000, 100*safeDiv(n.PeakDelayMs, n.JudgedMs), n.JudgedMs,
			w.PeakDelayPerRunMs[0], w.PeakDelayPerRunMs[1], w.PeakDelayPerRunMs[2], n.RunQueueDelayMs,
			w.ForeignCPUs, 100*n.SlowWakeups, n.TailWaitMs))
}

func windowAt(c *summary.Contention, startMs float64) summary.ContentionWindow {
	for _, w := range c.Windows {
		if w.StartMs == startMs {
			return w
		}
	}
	return summary.ContentionWindow{}
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
