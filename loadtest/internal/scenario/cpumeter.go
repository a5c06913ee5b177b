package scenario

import (
	"os"

	"github.com/benchharness/benchharness/loadtest/internal/machine"
)

// cpuMeter reads the CPU time the server's process (when this harness started it) and this
// harness have run; the harness's includes its workers on this machine (helpers), which send
// its load.
type cpuMeter struct {
	server  int // pid; 0: not measured (a server the harness did not start)
	helpers []int
}

func newCPUMeter(l *Live, helpers []int) cpuMeter {
	m := cpuMeter{helpers: helpers}
	if l.Server.Process != nil {
		m.server = l.Server.Process.PID()
	}
	return m
}

func (m cpuMeter) read() (StepCPU, bool) {
	if m.server == 0 {
		return StepCPU{}, false
	}
	server, ok := machine.ProcessCPU(m.server)
	harness, ok2 := machine.ProcessCPU(os.Getpid())
	for _, pid := range m.helpers {
		t, ok3 := machine.ProcessCPU(pid)
		harness, ok2 = harness+t, ok2 && ok3
	}
	return StepCPU{Server: server, Harness: harness}, ok && ok2
}

// start begins a span: its stop returns the CPU time run since.
func (m cpuMeter) start() cpuSpan {
	at, ok := m.read()
	return cpuSpan{m: m, at: at, ok: ok}
}

// cpuSpan is a CPU reading to subtract from a later one.
type cpuSpan struct {
	m  cpuMeter
	at StepCPU
	ok bool
}

// stop returns the CPU time run since the span began; false when either reading failed (the
// server gone).
func (s cpuSpan) stop() (StepCPU, bool) {
	now, ok := s.m.read()
	if !ok || !s.ok {
		return StepCPU{}, false
	}
	return StepCPU{now.Server - s.at.Server, now.Harness - s.at.Harness}, true
}

// perRequest divides c by the requests sent (warm-up included: the CPU readings span it), in µs.
func (c StepCPU) perRequest(sent int64) (server, harness float64) {
	if sent <= 0 || c.Server <= 0 {
		return 0, 0
	}
	return float64(c.Server.Microseconds()) / float64(sent), float64(c.Harness.Microseconds()) / float64(sent)
}
