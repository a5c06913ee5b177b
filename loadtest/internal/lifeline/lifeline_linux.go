package lifeline

import (
	"fmt"
	"os"
	"syscall"
)

func setDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }

// ExitWithParent makes the kernel send this process SIGKILL when its parent, parent, dies: for
// a process started by a shell script (loadtest worker -parent-pid $$), which cannot set a
// parent-death signal on its children itself. It fails at once when parent is no longer this
// process's parent (it died before the signal was set).
func ExitWithParent(parent int) error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); errno != 0 {
		return fmt.Errorf("set parent-death signal: %w", errno)
	}
	if got := os.Getppid(); got != parent {
		return fmt.Errorf("parent pid %d is gone (the parent is now %d)", parent, got)
	}
	return nil
}
