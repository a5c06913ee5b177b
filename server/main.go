// Command server is the items API, the system under test of the benchmark harness: a go-chi
// JSON API with JWT auth on PostgreSQL (pgx), with the timeouts, graceful shutdown and telemetry
// of a production service. `server` (or `server serve`) runs it; `server token` mints a token.
// Settings come from the environment (docs/contracts.md, docs/server.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// Exit codes (docs/contracts.md): 0 clean drain, 1 failure, 2 bad setting or usage, 3 forced
// drain (in-flight requests were cut off after SHUTDOWN_TIMEOUT).
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var se *settingError
	var ue *usageError
	switch {
	case errors.Is(err, errForcedShutdown):
		fmt.Fprintln(stderr, "server:", err)
		return 3
	case errors.As(err, &se), errors.As(err, &ue):
		fmt.Fprintln(stderr, "server:", err)
		return 2
	}
	fmt.Fprintln(stderr, "server:", err)
	return 1
}
