package main

import (
	"context"
	"io"
)

// reportCommand is a placeholder until the report subcommand lands.
func reportCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return usageErrorf("report: not built yet")
}
