package main

import (
	"bufio"
	"net"
	"net/textproto"
	"strings"
	"testing"
)

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
