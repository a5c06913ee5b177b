package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/serverctl"
)

// TestMetricsServerCutsSlowClients: a client of -metrics-addr that announces a body and never
// sends it is cut off after the read timeout, instead of holding a connection and a goroutine
// of the harness for as long as it likes.
func TestMetricsServerCutsSlowClients(t *testing.T) {
	t.Parallel()
	addrs, err := serverctl.FreePorts("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	_, stop, err := serveMetrics(context.Background(), addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	conn, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /metrics HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n\r\n{", addrs[0])
	start := time.Now()
	const readTimeout = 10 * time.Second // serveMetrics's
	_ = conn.SetReadDeadline(start.Add(readTimeout + 3*time.Second))
	_, err = io.Copy(io.Discard, conn)
	if d := time.Since(start); err != nil || d > readTimeout+2*time.Second {
		t.Errorf("connection held %s (%v); want closed within the %s read timeout", d, err, readTimeout)
	}
}
