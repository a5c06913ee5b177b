package scenario

import "github.com/benchharness/benchharness/loadtest/internal/attack"

// Observer is told what the runs do as they go. The live progress line and the harness's own
// exported metrics are observers the caller wires: the runner knows neither a terminal nor an
// exporter.
type Observer interface {
	// Running is told when a scenario's attack starts and ends.
	Running(scenario string, running bool)
	// Event is told each timeline event as it is marked.
	Event(scenario, event string)
	// Step is told that a constant-rate step is about to start. It returns consumers of the
	// step's hits and a func to call with the achieved rate when the step ends (nil: none).
	Step(scenario string, st Step) (consumers []attack.Consumer, done func(achievedRate float64))
}

// noObserver is the Observer of a Runner that was given none.
type noObserver struct{}

func (noObserver) Running(string, bool) {}
func (noObserver) Event(string, string) {}
func (noObserver) Step(string, Step) ([]attack.Consumer, func(float64)) {
	return nil, nil
}
