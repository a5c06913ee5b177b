package scenario

import (
	"fmt"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// crashError is the server dying under a scenario that did not expect it to exit.
type crashError struct {
	code    int
	after   time.Duration // since the scenario's start
	lastLog string
}

// Error says how and when the server exited, and its last log line.
func (c *crashError) Error() string {
	msg := fmt.Sprintf("server exited unexpectedly (code %d) %.1fs into the scenario", c.code, c.after.Seconds())
	if c.lastLog != "" {
		msg += "; last log line: " + c.lastLog
	}
	return msg
}

// crashWatch watches the server process during a scenario and stops the attack when it dies.
type crashWatch struct {
	stop  chan struct{}
	done  chan struct{}
	crash *crashError
}

// watchCrash watches l's server process until end is called: when the process exits and the
// scenario did not expect it to, it records the crash, logs the crash event and stops the attack.
func watchCrash(l *Live, stopAttack func()) *crashWatch {
	w := &crashWatch{stop: make(chan struct{}), done: make(chan struct{})}
	p := l.Server.Process
	if p == nil {
		close(w.done)
		return w
	}
	go func() {
		defer close(w.done)
		select {
		case <-p.Exited():
			if l.exitExpected() {
				return
			}
			w.crash = &crashError{code: p.ExitCode(), after: time.Since(l.start), lastLog: lastLine(p.LogTail())}
			l.Event(summary.EventCrash, fmt.Sprintf("exit code %d", p.ExitCode()))
			stopAttack()
		case <-w.stop:
		}
	}()
	return w
}

// end stops watching and returns the crash, if there was one. It may be called more than once.
func (w *crashWatch) end() *crashError {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	return w.crash
}
