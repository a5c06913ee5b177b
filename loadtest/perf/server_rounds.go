package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// serverLoad puts P1/P2's load on the services of a serverSet and records what each measured
// round gave: the figures, and the CPU data the findings are rendered from.
type serverLoad struct {
	r    *runner
	ctx  context.Context
	set  *serverSet
	data *serverData
}

// measurement is one run of wrk or pgbench: the rate of good answers, and the CPU µs per request
// of PostgreSQL (-1 when unknown).
type measurement struct {
	rate, pgPerReq float64
}

// pgbench runs pgbench on the handler's SELECT for d; a measured round (d = -round) is added to
// the CPU budget.
func (l *serverLoad) pgbench(d time.Duration) (measurement, error) {
	c := l.r.cfg
	pg0 := treeCPU(l.set.postmaster)
	out, cpu, err := runToolEnvCPU(l.ctx, []string{"PGOPTIONS=-c plan_cache_mode=" + planCacheMode}, c.pgbench, "-n", "-M", "prepared", "-c", strconv.Itoa(c.conns), "-j", "2",
		"-T", strconv.Itoa(int(d/time.Second)), "-f", l.set.script, l.r.dbURL)
	if err != nil {
		return measurement{}, err
	}
	pg := cpuDelta(pg0, treeCPU(l.set.postmaster))
	tps, failed, err := parsePgbench(out)
	if err == nil && failed > 0 {
		err = fmt.Errorf("pgbench: %d failed transactions", failed)
	}
	m := measurement{rate: tps, pgPerReq: -1}
	if err == nil && d == c.round {
		m.pgPerReq = l.data.account("pgbench", int(tps*d.Seconds()), cpu, -1, pg)
	}
	return m, err
}

// wrk loads v with wrk for d; a measured round (d = -round) records v's CPU per request. Only
// 2xx answers count, and a run with more than 1 % others is an error.
func (l *serverLoad) wrk(v *variant, d time.Duration) (float64, error) {
	m, err := l.wrkMeasure(v, d)
	return m.rate, err
}

func (l *serverLoad) wrkMeasure(v *variant, d time.Duration) (measurement, error) {
	c := l.r.cfg
	args := []string{c.wrk, "-t2", "-c" + strconv.Itoa(c.conns), "-d" + strconv.Itoa(int(d/time.Second)) + "s"}
	for _, h := range l.set.headers {
		args = append(args, "-H", h)
	}
	cpu0, pg0 := cpuSeconds(v.pid), treeCPU(l.set.postmaster)
	out, wrkCPU, err := runToolCPU(l.ctx, append(args, v.api+itemsPath)...)
	if err != nil {
		return measurement{}, err
	}
	service, pg := cpuDelta(cpu0, cpuSeconds(v.pid)), cpuDelta(pg0, treeCPU(l.set.postmaster))
	res, err := parseWrk(out)
	m := measurement{rate: res.GoodRate(), pgPerReq: -1}
	if err == nil && d == c.round && service >= 0 && res.Requests > 0 {
		m.pgPerReq = l.data.account(v.id, res.Requests, wrkCPU, service, pg)
	}
	if err == nil && res.Non2xx+res.Errors > res.Requests/100 {
		err = fmt.Errorf("wrk on %s server: %d non-2xx and %d socket errors of %d requests", v.id, res.Non2xx, res.Errors, res.Requests)
	}
	return m, err
}

// cpuDelta is b-a, or -1 when either reading failed or time went backwards.
func cpuDelta(a, b float64) float64 {
	if a < 0 || b < a {
		return -1
	}
	return b - a
}

func (l *serverLoad) warmUp() error {
	if _, err := l.pgbench(l.r.cfg.warmup); err != nil {
		return fmt.Errorf("pgbench warm-up: %w", err)
	}
	for _, v := range l.set.measured() {
		if _, err := l.wrk(v, l.r.cfg.warmup); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	return nil
}

// rounds measures pgbench and every service once per round. The order rotates round by round
// so that none always runs first (right after a quiet gap) or last.
func (l *serverLoad) rounds() {
	r, c := l.r, l.r.cfg
	type step struct {
		name string
		run  func() (measurement, error)
	}
	steps := []step{{"pgbench", func() (measurement, error) { return l.pgbench(c.round) }}}
	for _, v := range l.set.measured() {
		steps = append(steps, step{v.id, func() (measurement, error) { return l.wrkMeasure(v, c.round) }})
	}
	l.data.startJaeger(l.ctx, l.set)
	for i := 0; i < c.rounds && l.ctx.Err() == nil; i++ {
		got := map[string]measurement{}
		for j := range steps {
			s := steps[(i+j)%len(steps)]
			m, err := s.run()
			if err != nil {
				r.res.Errors = append(r.res.Errors, fmt.Sprintf("P1/P2 round %d %s: %v", i+1, s.name, err))
				continue
			}
			got[s.name] = m
		}
		line := fmt.Sprintf("pgbench %.0f tps", got["pgbench"].rate)
		for _, v := range l.set.measured() {
			line += fmt.Sprintf(", %s %.0f/s", v.id, got[v.id].rate)
		}
		r.logf("P1/P2 round %d: %s", i+1, line)
		l.addRound(got)
	}
	l.data.tracedSeconds = float64(len(r.fig(tracingCost).Samples)) * c.round.Seconds()
}

// addRound adds one round to the P1/P2 figures; a service missing from got (its run failed)
// makes its figures' sample NaN: a failed round.
func (l *serverLoad) addRound(got map[string]measurement) {
	r := l.r
	add := func(id, a, b string) {
		r.fig(id).Add(Sample{A: got[a].rate, B: got[b].rate, Value: ratio(got[a].rate, got[b].rate)})
	}
	add(serverVsBare, "off", "bare")
	add(bareVsPgbench, "bare", "pgbench")
	add(serverVsPgbench, "off", "pgbench")
	pgOff, pgBench := got["off"].pgPerReq, got["pgbench"].pgPerReq
	r.fig(postgresCPUPerRequest).Add(Sample{A: pgOff, B: pgBench, Value: ratio(pgOff, pgBench)})
	if r.cfg.only[partTracing] {
		add(tracingCost, "traced", "off")
		add(defaultSamplerCost, "default", "off")
	}
	if v := ratio(got["alt"].rate, got["traced"].rate); !math.IsNaN(v) {
		l.data.altOverTraced = append(l.data.altOverTraced, v)
		r.logf("P2: alt / traced %.3f, alt / off %.3f", v, ratio(got["alt"].rate, got["off"].rate))
	}
}

// countSpans is P2a's honesty check: a batch processor whose queue overflows drops spans,
// which would make 100 % sampling look cheaper than it is. It waits for the last batch, then
// reads how many spans Jaeger accepted per traced request.
func (l *serverLoad) countSpans() {
	time.Sleep(6 * time.Second) // one OTEL_BSP_SCHEDULE_DELAY (5 s default): the last batch lands
	j, d := l.set.jaeger, l.data
	spans, err1 := j.acceptedSpans(l.ctx)
	reqs, err2 := exportedRequests(l.ctx, l.set)
	d.spansErr = errors.Join(err1, err2)
	d.spans, d.tracedRequests = spans-d.spans0, reqs-d.tracedRequests0
	d.jaegerCPU = cpuDelta(d.jaegerCPU0, cpuSeconds(j.PID()))
}
