package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"

	"github.com/benchharness/benchharness/loadtest/cli"
)

// TestFloorRefusesBadFlags: every flag out of range is a usage error (exit 2) before anything is
// dialled; the URL names a port nothing listens on, so a flag let through fails on the dial
// with exit 1 instead.
func TestFloorRefusesBadFlags(t *testing.T) {
	const target = "http://127.0.0.1:1/"
	tests := []struct {
		name string
		args []string
	}{
		{"zero rate", []string{"-url", target, "-rate", "0"}},
		{"negative rate", []string{"-url", target, "-rate", "-5"}},
		{"NaN rate", []string{"-url", target, "-rate", "NaN"}},
		{"infinite rate", []string{"-url", target, "-rate", "+Inf"}},
		{"rate too high", []string{"-url", target, "-rate", "1e9"}},
		{"no workers", []string{"-url", target, "-workers", "0"}},
		{"zero duration", []string{"-url", target, "-duration", "0s"}},
		{"not loopback", []string{"-url", "http://192.0.2.1/"}},
		{"no URL", nil},
		{"unknown flag", []string{"-url", target, "-bogus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := floorCommand(context.Background(), tt.args, io.Discard, io.Discard)
			if cli.ExitCode(err) != 2 || strings.Contains(err.Error(), "\n") {
				t.Fatalf("floor %q = %v (exit %d), want exit 2 with a one-line reason", tt.args, err, cli.ExitCode(err))
			}
		})
	}
}

// TestFloorExchange: one request written, its answer read to the end of the body so the next
// starts clean; an answer that is not 2xx, or that the floor cannot frame, is an error.
func TestFloorExchange(t *testing.T) {
	tests := []struct {
		name    string
		answer  string
		wantErr string
	}{
		{"2xx with a body, then the next answer", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + "HTTP/1.1 204 No Content\r\n\r\n", ""},
		{"a server error", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", "want 2xx"},
		{"a garbled status line", "hello\r\n\r\n", "want 2xx"},
		{"a bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n", "Content-Length"},
		{"a body cut short", "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", "read the body"},
		{"the connection closed", "", "read the status line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			got := make(chan string, 1)
			go func() {
				defer server.Close()
				line, _ := bufio.NewReader(server).ReadString('\n')
				got <- line
				_, _ = server.Write([]byte(tt.answer))
			}()
			r := textproto.NewReader(bufio.NewReader(client))
			err := floorExchange(client, r, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("floorExchange: %v", err)
				}
				if next, err := r.ReadLine(); err != nil || next != "HTTP/1.1 204 No Content" {
					t.Fatalf("after the first answer the reader is at %q (%v), want the next status line", next, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("floorExchange = %v, want an error containing %q", err, tt.wantErr)
			}
			if line := <-got; line != "GET / HTTP/1.1\r\n" {
				t.Errorf("the server read %q", line)
			}
		})
	}
}
