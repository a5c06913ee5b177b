// Package lifeline ties the processes the harness starts to its life: a managed server, a
// disturbance command or a helper must not keep running (with its ports, its database
// connections and BENCH_DELAY=on) after the harness panicked, was OOM-killed or got kill -9.
//
//	waited, err := lifeline.Start(cmd) // instead of cmd.Start
//	...
//	err = <-waited                      // instead of cmd.Wait
//
// On Linux the kernel sends the child SIGKILL when the harness dies (the parent-death signal);
// elsewhere a child only gets its own process group.
package lifeline

import (
	"os/exec"
	"runtime"
	"syscall"
)

// Start starts cmd in a process group of its own (a Ctrl-C at the terminal reaches the harness,
// which stops its children in order), killed by the kernel when this process dies, and waits
// for it. The returned channel receives cmd.Wait's error once the process has exited; the
// caller must receive it (or let it be) and never call cmd.Wait itself.
func Start(cmd *exec.Cmd) (<-chan error, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setDeathSignal(cmd.SysProcAttr)
	started, waited := make(chan error, 1), make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that forked the child exits, not the
		// process: locked, this thread runs nothing else (so nothing can end it) until the
		// child is gone.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		waited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return waited, nil
}

// Run is Start, then the wait: exec.Cmd.Run for a child that must not outlive the harness.
func Run(cmd *exec.Cmd) error {
	waited, err := Start(cmd)
	if err != nil {
		return err
	}
	return <-waited
}
