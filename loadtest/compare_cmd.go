package main

import (
	"context"
	"io"
)

// compareCommand is a placeholder until the compare subcommand lands.
func compareCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return usageErrorf("compare: not built yet")
}
