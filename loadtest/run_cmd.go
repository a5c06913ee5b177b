package main

import (
	"context"
	"io"
)

// runCommand is a placeholder until the run subcommand lands.
func runCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return usageErrorf("run: not built yet")
}
