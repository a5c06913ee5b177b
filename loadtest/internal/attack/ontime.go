package attack

import (
	"fmt"
	"os"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/sys/unix"
)

// fineFrom is the shortest wait onTime takes over. Shorter waits (above 1000 hits/s) are left to
// vegeta's time.Sleep: its millisecond sends the hits then due together, where a timer per hit
// cost the engine 30 % more CPU at 2400/s (docs/design/engine.md, "Pacing").
const fineFrom = time.Millisecond

// onTime is a vegeta.Pacer that waits out its pacer's waits on a fineTimer and tells vegeta
// to send at once: vegeta's own time.Sleep goes through Go's timers, which wake an otherwise idle
// process in whole milliseconds on Linux (the netpoller's epoll timeout), so a hit due 9.4 ms
// ahead went out 0.6 ms late, and every intended latency counted that as the server's.
type onTime struct {
	vegeta.Pacer
	timer *fineTimer
}

// Pace waits until the next hit is due and returns 0, or what is left of the wait when the
// timer failed (closed: the attack is over).
func (p onTime) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	wait, stop := p.Pacer.Pace(elapsed, hits)
	if stop || wait < fineFrom {
		return wait, stop
	}
	due := time.Now().Add(wait)
	if err := p.timer.sleep(wait); err != nil {
		return max(time.Until(due), 0), false
	}
	return 0, false
}

// fineTimer is a timerfd read through Go's netpoller: the goroutine parks as on any socket, and
// the kernel wakes it at the timer's slack (50 µs), not at the next whole millisecond.
type fineTimer struct {
	f    *os.File
	conn syscall.RawConn // f's, taken once: sleep runs once per hit
}

func newFineTimer() (*fineTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("pacer timer: %w", err)
	}
	f := os.NewFile(uintptr(fd), "pacer-timerfd")
	conn, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("pacer timer: %w", err)
	}
	return &fineTimer{f: f, conn: conn}, nil
}

// sleep waits d > 0, or until the timer is closed (an error).
func (t *fineTimer) sleep(d time.Duration) error {
	var serr error
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(max(d.Nanoseconds(), 1))}
	if err := t.conn.Control(func(fd uintptr) { serr = unix.TimerfdSettime(int(fd), 0, &spec, nil) }); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("pacer timer: %w", serr)
	}
	var expirations [8]byte
	_, err := t.f.Read(expirations[:])
	return err
}

func (t *fineTimer) Close() error { return t.f.Close() }
