// Command healthcheck is the container image's HEALTHCHECK: the final image is FROM scratch (no
// shell, curl or wget), so a few lines of Go do the GET. It exits 0 when URL answers 2xx within
// two seconds and 1 otherwise, with one line on stderr saying why.
//
// Usage: healthcheck URL
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: %s URL", args[0])
	}
	// Shorter than the compose healthcheck timeout, so a hung server is reported as such.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[1], nil)
	if err != nil {
		return fmt.Errorf("build request for %s: %w", args[1], err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", args[1], err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s", args[1], resp.Status)
	}
	return nil
}
