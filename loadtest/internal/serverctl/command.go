package serverctl

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/lifeline"
	"github.com/benchharness/benchharness/loadtest/internal/redact"
)

// Command is an operator's shell command that disturbs a server the harness did not start:
// `kubectl delete pod items-0 --wait=false`, `kill -TERM 1234`. It runs with sh -c in a process
// group of its own, so that a timeout ends the command and everything it started.
type Command struct {
	Line    string        // the shell command
	Timeout time.Duration // how long it may take (0: 15 s)
	// Secrets are replaced by xxxxx wherever they appear in the output Run returns (the bearer
	// token, should the command print it): the output goes into the run's events and reports.
	Secrets []string
}

// outputLines is how much of a command's output is kept: the end of it, where an error is.
const outputLines = 20

// Run runs the command and returns its output (stdout and stderr, the last lines, secrets
// redacted). The error says why it failed: it could not start, it ran past its timeout, or it
// exited non-zero; it carries the output's last line, never the command line itself (which may
// hold a credential).
func (c Command) Run(ctx context.Context) (string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := newTail(outputLines)
	cmd := exec.CommandContext(ctx, "sh", "-c", c.Line)
	cmd.Stdout, cmd.Stderr = out, out
	// The whole group, not only sh: `kubectl ... ; sleep 60` must not outlive the timeout.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A grandchild that keeps the output pipe open must not hold Run past the kill.
	cmd.WaitDelay = time.Second
	err := lifeline.Run(cmd) // a group of its own, killed should the harness die
	text := redact.String(out.String(), c.Secrets...)
	switch {
	case err == nil:
		return text, nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("timed out after %s", timeout)
	case ctx.Err() != nil:
		err = fmt.Errorf("stopped: %w", ctx.Err())
	}
	if last := lastLine(text); last != "" {
		err = fmt.Errorf("%w: %s", err, last)
	}
	return text, err
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return strings.TrimSpace(s[strings.LastIndexByte(s, '\n')+1:])
}
