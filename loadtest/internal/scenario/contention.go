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
		mu        sync.Mutex
		db, ownDB []int
		readAt    time.Time
		harness   = append([]int{os.Getpid()}, rn.Helpers...)
	)
	procs := func(ctx context.Context) (contention.Procs, bool) {
		mu.Lock()
		defer mu.Unlock()
		// The pool opens its connections at start; asking once a second finds a late one.
		if time.Since(readAt) >= time.Second {
			if server, own, ok := rn.backends(ctx, l); ok {
				db, ownDB, readAt = server, own, time.Now()
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
		return contention.Procs{Path: [...][]int{contention.Server: server, contention.Database: db, contention.Harness: harness}, OffPath: ownDB}, true
	}
	sched := func(ctx context.Context) (contention.Histogram, error) {
		b, c, err := l.Sampler.Histogram(ctx, schedLatencies)
		return contention.Histogram{Bounds: b, Counts: c}, err
	}
	return contention.NewMonitor(procs, sched, 0)
}

// backends are the pids of the PostgreSQL backends that run on this machine: the server's (on
// a request's path) and the harness's own (its sampling queries, off it); false when the server
// has none here.
func (rn *Runner) backends(ctx context.Context, l *Live) (server, own []int, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, dbQueryTimeout)
	defer cancel()
	apps := []string{l.Server.DBApplication()}
	for _, a := range l.adoptedServers() {
		apps = append(apps, a.DBApplication())
	}
	rows, err := rn.DB.Query(ctx, `SELECT pid, application_name = $2 FROM pg_stat_activity WHERE application_name = ANY($1) OR application_name = $2`,
		apps, HarnessApplication)
	if err != nil {
		return nil, nil, false
	}
	type backend struct {
		PID     int
		Harness bool
	}
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[backend])
	if err != nil {
		return nil, nil, false
	}
	for _, b := range all {
		switch {
		case !machine.IsProcess(b.PID, "postgres"):
		case b.Harness:
			own = append(own, b.PID)
		default:
			server = append(server, b.PID)
		}
	}
	return server, own, len(server) > 0
}

// contended lays the monitor's readings over the judged step's windows and applies the
// neighbour rule to the judged p99, the send lateness p99 and the slowest requests; nil when
// not measured.
func contended(l *Live, windows []summary.Window, slowest []summary.Request, judgedMs, lateMs float64) *summary.Contention {
	if l.Contention == nil {
		return nil
	}
	points := l.Contention.Points()
	if len(points) == 0 {
		return nil
	}
	c := contention.Summarise(points, windows)
	c.Neighbour = contention.Neighbour(points, c, slowest, judgedMs, lateMs, l.Settings.MaxNeighbourShare)
	return &c
}

// neighbourCheck: our threads waiting for a CPU slow the server the way a slow server would;
// when the paths of slow requests, or the harness's sends, waited enough to move the judged
// p99, the figures judge the machine: INVALID, as when the generator falls behind.
func neighbourCheck(c *summary.Contention, maxShare float64) summary.Check {
	n := c.Neighbour
	want := fmt.Sprintf("no wait of %.0f%% of the judged p99 on the paths of %d of the %d slowest requests (per run) nor at 1 send in 100 (at least %.0f ms), while others took the CPU ours left free",
		100*maxShare, contention.SlowMet, n.SlowRequestsSeen, contention.SendFloorMs)
	slow := fmt.Sprintf("%.2f ms per run (%s, a request sent at %.1f s; limit %.2f ms: %.0f%% of p99 %.1f ms); in that second ours ran %.2f CPUs and others %.2f%s of %d",
		n.SlowWaitMs, n.SlowRole, n.SlowAtMs/1000, n.LimitMs, 100*maxShare, n.JudgedMs, n.SlowOurCPUs, n.SlowForeignCPUs, nicedNote(n.SlowNicedCPUs), n.CPUs)
	send := fmt.Sprintf("send lateness p99 %.2f ms (limit %.2f ms); over the attack ours ran %.2f CPUs and others %.2f, niced ones left out, of %d",
		n.SendWaitMs, n.SendLimitMs, n.OurCPUs, n.CompetingCPUs, n.CPUs)
	got := slow + "; " + send
	if n.MovedBy == "send" {
		got = send + "; " + slow
	}
	return summary.NewCheck(summary.Validity, "neighbour", !n.Moved, want, got)
}

// nicedNote is ", 0.95 of them niced (not counted)" when niced processes ran.
func nicedNote(niced float64) string {
	if niced < 0.005 {
		return ""
	}
	return fmt.Sprintf(", %.2f of them niced (not counted)", niced)
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
