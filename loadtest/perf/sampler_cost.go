package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/errclass"
	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/machine"
	"github.com/benchharness/benchharness/loadtest/internal/sampler"
	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// samplerWays are the ways P5 runs the same load: without a sampler, with the sampler as a run
// uses it (the probed compact page), and with the sampler on the full /metrics (how it read
// before the compact page, and how it reads a service without one).
var samplerWays = []string{"none", "sampler", "full"}

// measureSamplerCost is P5: one items server under steady's default load (GET items at
// -p5-rate, in this process through the harness's engine), round by round without a sampler,
// with the run's sampler and with a sampler on the full /metrics, in rotating order. The figure
// is the server's extra CPU (every thread's schedstat) with the sampler over its CPU without.
func (r *runner) measureSamplerCost(ctx context.Context) error {
	c := r.cfg
	dbURL, err := withPoolSize(r.dbURL, c.pool)
	if err != nil {
		return err
	}
	srv, err := serverctl.Start(ctx, serverctl.Config{Bin: c.serverBin, DatabaseURL: dbURL,
		Env: []string{"LOG_LEVEL=warn", "OTEL_TRACES_EXPORTER=none"}})
	if err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	defer func() { _ = srv.Stop(10 * time.Second) }()
	if err := r.seed(ctx, c.items); err != nil {
		return err
	}
	token, err := srv.Token(ctx, "perf")
	if err != nil {
		return err
	}
	url := srv.API() + itemsPath
	if err := checkItems(ctx, url, []string{"Authorization: Bearer " + token}); err != nil {
		return err
	}
	full := srv.Admin() + "/metrics"
	sig := sampler.Probe(ctx, []string{full}, nil)
	if sig.MetricsURL == "" {
		return fmt.Errorf("no metrics found at %s", full)
	}
	signals := map[string]*summary.Signals{
		"sampler": &sig,
		"full":    {MetricsURL: full, Goroutines: sampler.FromMetrics},
	}
	r.logf("P5: %.0f/s, %s per way per round in slots of %s, sampler every %s (server every %s) on %s",
		c.p5Rate, c.round, p5Slot, c.sampleEvery, c.p5ServerEvery, sig.MetricsURL)
	load := samplerLoad{url: url, token: token, rate: c.p5Rate, pid: srv.PID(), every: c.sampleEvery,
		serverEvery: c.p5ServerEvery, signals: signals}
	if _, err := load.round(ctx, 0, c.warmup); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	for i := 0; i < c.rounds && ctx.Err() == nil; i++ {
		cpu, err := load.round(ctx, i, c.round)
		if err != nil {
			r.res.Errors = append(r.res.Errors, fmt.Sprintf("P5 round %d: %v", i+1, err))
			cpu = nil
		}
		r.logf("P5 round %d: server CPU per second: none %.2f ms, sampler %.2f ms, full /metrics %.2f ms",
			i+1, cpu["none"]/1e3, cpu["sampler"]/1e3, cpu["full"]/1e3)
		r.addSamplerRound(cpu)
	}
	r.note(samplerCost, "Sampler on %s every %s, the server read every %s (the run's defaults), no database reading (pg_stat_activity costs PostgreSQL, not the server); %d items, pool_max_conns=%d.",
		sig.MetricsURL, c.sampleEvery, c.p5ServerEvery, c.items, c.pool)
	return nil
}

// addSamplerRound adds one round's ratios; a way that failed makes the sample NaN.
func (r *runner) addSamplerRound(cpu map[string]float64) {
	none, okNone := cpu["none"]
	for id, way := range map[string]string{samplerCost: "sampler", fullScrapeCost: "full"} {
		v, ok := cpu[way]
		sample := Sample{A: v, B: none, Value: math.NaN()}
		if ok && okNone && none > 0 {
			sample.Value = (v - none) / none
		}
		r.fig(id).Add(sample)
	}
}

// p5Slot is how long one way runs before the next takes over. Ways alternate this fast
// because the machine's other load drifts over seconds: a way measured for 6 s in a row would
// carry that drift, which on a shared 2-core machine is far larger than the 2 % measured.
const p5Slot = time.Second

// samplerLoad is P5's load on one server and the samplers it runs beside it.
type samplerLoad struct {
	url, token string
	rate       float64
	pid        int
	every      time.Duration
	// serverEvery is the run's sampler's server-read interval; the full way reads every
	// sample, as the sampler did before (the reference).
	serverEvery time.Duration
	signals     map[string]*summary.Signals // by way; none has no entry
}

// round runs one attack and, under it, each way for perWay in slots of p5Slot, the ways
// rotating slot by slot (starting at way i). It returns the server's CPU µs per second for
// each way.
func (l samplerLoad) round(ctx context.Context, i int, perWay time.Duration) (map[string]float64, error) {
	slots := max(int(perWay/p5Slot), 1) * len(samplerWays)
	attackCtx, stop := context.WithCancel(ctx)
	defer stop()
	type result struct {
		figs attack.Figures
		err  error
	}
	done := make(chan result, 1)
	// The attack runs past the slots and is stopped when they end: its start and end (new
	// connections, the last responses) are not measured.
	go func() {
		figs, err := attack.Attack(attackCtx, attack.Config{
			Scenario: "perf-p5",
			Pacer:    vegeta.ConstantPacer{Freq: int(l.rate), Per: time.Second},
			Duration: time.Duration(slots+2) * p5Slot,
			Targeter: vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: l.url,
				Header: http.Header{"Authorization": {"Bearer " + l.token}}}),
			Timeout:   5 * time.Second,
			KeepAlive: true,
			SlowestN:  -1,
		})
		done <- result{figs, err}
	}()
	cpu, secs := map[string]float64{}, map[string]float64{}
	var err error
	if sleepCtx(attackCtx, p5Slot/2) {
		for k := 0; k < slots && err == nil; k++ {
			way := samplerWays[(i+k)%len(samplerWays)]
			var us, s float64
			us, s, err = l.slot(attackCtx, way)
			cpu[way] += us
			secs[way] += s
		}
	}
	stop()
	res := <-done
	switch {
	case res.err != nil:
		return nil, res.err
	case err != nil:
		return nil, err
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	// The requests in flight when stop() closed the attack's connections were cut by the round's
	// end, not failed by the server.
	cut := res.figs.ErrorClasses[errclass.Cancelled]
	if judged := res.figs.Requests - cut; judged <= 0 || res.figs.Successes < judged*99/100 {
		return nil, fmt.Errorf("%d of %d requests succeeded (%d more cut by the round's end; errors by class %v)",
			res.figs.Successes, judged, cut, res.figs.ErrorClasses)
	}
	for way := range cpu {
		cpu[way] /= secs[way]
	}
	return cpu, nil
}

// slot runs one way for p5Slot (its sampler beside the load, none for "none") and returns the
// server's CPU µs in it and the seconds it lasted.
func (l samplerLoad) slot(ctx context.Context, way string) (float64, float64, error) {
	sig := l.signals[way]
	slotCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	cpu0, ok0 := machine.ProcessCPU(l.pid)
	began := time.Now()
	if sig != nil {
		s := sampler.NewFor(*sig, nil, "", 0, l.every)
		if way == "sampler" {
			s.SetServerEvery(l.serverEvery)
		}
		wg.Go(func() { s.Run(slotCtx, began) })
	}
	sleepCtx(ctx, p5Slot)
	stop()
	wg.Wait()
	cpu1, ok1 := machine.ProcessCPU(l.pid)
	if !ok0 || !ok1 {
		return 0, 0, fmt.Errorf("read the server's CPU from /proc/%d/task/*/schedstat", l.pid)
	}
	return float64((cpu1 - cpu0).Microseconds()), time.Since(began).Seconds(), nil
}

// sleepCtx sleeps for d or until ctx is done, and reports whether it slept the whole d.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
