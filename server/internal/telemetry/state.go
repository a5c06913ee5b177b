package telemetry

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Lifecycle states exported as server_state{state=...}.
const (
	StateReady    = "ready"
	StateDraining = "draining"
	StateStopped  = "stopped"
)

var states = []string{StateReady, StateDraining, StateStopped}

// State is the server's lifecycle state: it drives /readyz and the server_state gauge (1 for the
// current state, 0 for the others). It starts as "stopped" until Set(StateReady).
type State struct {
	cur   atomic.Value // string
	gauge *prometheus.GaugeVec
}

// NewState registers server_state on reg.
func NewState(reg prometheus.Registerer) *State {
	s := &State{gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "server_state",
		Help: "1 for the server's current lifecycle state (ready, draining, stopped), 0 for the others.",
	}, []string{"state"})}
	reg.MustRegister(s.gauge)
	s.Set(StateStopped)
	return s
}

// Set moves to state.
func (s *State) Set(state string) {
	s.cur.Store(state)
	for _, st := range states {
		v := 0.0
		if st == state {
			v = 1
		}
		s.gauge.WithLabelValues(st).Set(v)
	}
}

// Collector is the server_state gauge, to register on a second registry (NewCompactRegistry).
func (s *State) Collector() prometheus.Collector { return s.gauge }

// Get returns the current state.
func (s *State) Get() string { return s.cur.Load().(string) }
