// Package contention measures how long the benchmark's own threads (the server's, its
// PostgreSQL backends', the harness's) waited in a run queue for a CPU, and judges whether that
// wait moved the figure a scenario is judged by: the neighbour check.
//
// A neighbour that merely runs does not matter (a nice-19 loop gets a CPU only when ours do not
// want it); one that makes our threads wait does. Linux counts that wait per thread in
// /proc/<pid>/task/<tid>/schedstat, and the server's Go runtime counts its goroutines' wait in
// /sched/latencies:seconds.
//
//	m := contention.NewMonitor(procs, sched, 0)
//	go m.Run(ctx, start)
//	...
//	c := contention.Summarise(m.Points(), windows)
//	c.Neighbour = contention.Neighbour(c, judgedP99, 0.1)
package contention
