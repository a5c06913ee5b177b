package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/benchharness/benchharness/loadtest/cli"
)

// trivialBody is the whole response of the trivial endpoint: small, so that P3 measures the
// generators and not the copying of bodies.
var trivialBody = []byte("ok\n")

// trivialHandler answers every request with 200 and trivialBody.
func trivialHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(trivialBody)
	})
}

// trivialCommand serves the trivial endpoint on -addr until ctx ends, printing the address it
// listens on as the first line of stdout so that a parent that asked for port 0 can find it.
func trivialCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("trivial", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	if err := cli.Parse(fs, args); err != nil {
		return usageErrorf("trivial: %v", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return usageErrorf("trivial: listen %s: %v", *addr, err)
	}
	return serveUntil(ctx, "trivial", ln, trivialHandler(), stdout)
}

// serveUntil serves h on ln until ctx ends, printing the listen address as the first line of
// stdout (so that a parent that asked for port 0 can find it), then shuts down.
func serveUntil(ctx context.Context, name string, ln net.Listener, h http.Handler, stdout io.Writer) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintln(stdout, ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: serve: %w", name, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("%s: shutdown: %w", name, err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: serve: %w", name, err)
	}
	return nil
}
