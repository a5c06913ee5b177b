package scenario

import (
	"context"
	"sync"

	"github.com/benchharness/benchharness/loadtest/internal/sampler"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// probe returns the server's signals: the ones Launch found, or those on its admin listener,
// else on its API listener.
func probe(ctx context.Context, srv Server, db bool) summary.Signals {
	var sig summary.Signals
	if srv.Signals != nil {
		sig = *srv.Signals
	} else {
		bases := []string{srv.Admin()}
		if srv.API() != srv.Admin() {
			bases = append(bases, srv.API())
		}
		var metrics, pprof []string
		for _, b := range bases {
			metrics, pprof = append(metrics, b+"/metrics"), append(pprof, b+"/debug/pprof")
		}
		sig = sampler.Probe(ctx, metrics, pprof)
	}
	sig.ReadyURL, sig.Database = srv.ReadyURL(), db
	return sig
}

// sample runs the sampler from the run's start until the returned func is called (idempotent).
func (rn *Runner) sample(ctx context.Context, l *Live) func() {
	sampleCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { l.Sampler.Run(sampleCtx, l.start) })
	if l.Contention != nil {
		wg.Go(func() { l.Contention.Run(sampleCtx, l.start) })
	}
	return sync.OnceFunc(func() { stop(); wg.Wait() })
}
