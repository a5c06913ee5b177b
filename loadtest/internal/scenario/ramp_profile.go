package scenario

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
	"github.com/benchharness/benchharness/loadtest/internal/profile"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// heldProfile takes the server's CPU profile during the ramp's held CPU step: constant load at
// a rate where the server's own work dominates, so that compare's "where the CPU time went"
// rests on enough samples of it (steady's, at its low rate, holds few, many of them fixed costs).
type heldProfile struct {
	live  *Live
	armed atomic.Bool // the next step to start is the held one (read on the engine's goroutine)
	step  Step        // that step, set before armed
	taken bool        // armed once already: one profile a run

	started chan struct{}
	over    chan struct{}
	once    [2]sync.Once

	file *summary.Profile // set by capture, read once the disturbance was joined
	rate float64          // the held step's achieved rate
}

func newHeldProfile(l *Live) *heldProfile {
	h := &heldProfile{live: l, started: make(chan struct{}), over: make(chan struct{})}
	if own := rampSteps(l.Settings); len(own) > 0 {
		h.next(own[0])
	}
	return h
}

// next is told the step about to start; the held one (the ramp's CPU hold) arms the capture.
func (h *heldProfile) next(st Step) {
	r := h.live.Settings.Ramp
	if h.taken || st.Duration != r.CPUHold || st.Rate != r.cpuHoldRate(ownRates(r)) {
		return
	}
	h.step, h.taken = st, true
	h.armed.Store(true)
}

// observe marks the held step's start at its first hit.
func (h *heldProfile) observe(*attack.Hit) {
	if h.armed.Load() {
		h.once[0].Do(func() { close(h.started) })
	}
}

// stepEnded keeps the held step's achieved rate: the profile's requests per second.
func (h *heldProfile) stepEnded(f attack.Figures) {
	if h.armed.Load() {
		h.rate = f.AchievedRate
		h.armed.Store(false)
	}
}

// end releases capture when the ramp is over without reaching the held step.
func (h *heldProfile) end() { h.once[1].Do(func() { close(h.over) }) }

// capture profiles the held step's counted part, whole seconds after a settle, ending before it.
func (h *heldProfile) capture(ctx context.Context) error {
	l := h.live
	select {
	case <-h.started:
	case <-h.over:
		return nil
	case <-ctx.Done():
		return nil
	}
	// Whole seconds of the counted part, a settle after its start and before its end.
	secs := int((h.step.Duration - 2*profileSettle) / time.Second)
	if l.Signals.PprofURL == "" || secs < 1 || !sleep(ctx, h.step.Warmup+profileSettle) {
		return nil
	}
	pf, err := profile.CaptureCPU(ctx, strings.TrimSuffix(l.Signals.PprofURL, "/debug/pprof"), l.Dir, l.Name+".cpu.pprof", time.Duration(secs)*time.Second)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("held step's profile: %w", err)
	}
	h.file = &pf
	return nil
}

func (h *heldProfile) collect(sc *summary.Scenario) {
	if h.file == nil || h.rate <= 0 {
		return
	}
	pf := *h.file
	pf.Rate = h.rate
	sc.Profiles = append(sc.Profiles, pf)
}
