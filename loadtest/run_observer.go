package main

import (
	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/progress"
	"github.com/benchharness/benchharness/loadtest/internal/promexport"
	"github.com/benchharness/benchharness/loadtest/internal/scenario"
)

// runObserver shows the runs as they go on the live progress line (nil: none) and in the
// harness's exported metrics (nil: -metrics-addr is off).
type runObserver struct {
	line    *progress.Line
	metrics *promexport.Metrics
}

func (o runObserver) Running(name string, running bool) { o.metrics.Running(name, running) }

func (o runObserver) Event(name, event string) { o.metrics.Event(name, event) }

func (o runObserver) Step(name string, st scenario.Step) ([]attack.Consumer, func(float64)) {
	o.metrics.SetTargetRate(name, st.Rate)
	var consumers []attack.Consumer
	live := o.line.Attack(name, st.Warmup, st.Duration)
	if live != nil {
		consumers = append(consumers, live)
	}
	if m := o.metrics; m != nil {
		consumers = append(consumers, attack.ConsumerFunc(func(h *attack.Hit) { m.Result(name, h.Code, h.Class, h.Latency) }))
	}
	return consumers, live.Finish
}
