//go:build !linux

package lifeline

import (
	"errors"
	"syscall"
)

func setDeathSignal(*syscall.SysProcAttr) {}

// ExitWithParent needs Linux's parent-death signal.
func ExitWithParent(int) error { return errors.New("exiting with the parent needs Linux") }
