package main

import (
	"net"
	"net/http"
	"testing"
)

func TestConnTrackerDrained(t *testing.T) {
	a, b := &net.TCPConn{}, &net.UnixConn{}
	type ev struct {
		conn  net.Conn
		state http.ConnState
	}
	tests := []struct {
		name    string
		before  []ev // ConnState events before shutdown starts watching
		after   []ev // events after
		drained bool
	}{
		{"no connections", nil, nil, true},
		{"idle keep-alive", []ev{{a, http.StateNew}, {a, http.StateActive}, {a, http.StateIdle}}, nil, true},
		{"accepted, request not read yet", []ev{{a, http.StateNew}}, nil, false},
		{"in flight", []ev{{a, http.StateNew}, {a, http.StateActive}}, nil, false},
		{"in flight, then done", []ev{{a, http.StateNew}, {a, http.StateActive}}, []ev{{a, http.StateClosed}}, true},
		{"one of two done", []ev{{a, http.StateActive}, {b, http.StateActive}}, []ev{{a, http.StateClosed}}, false},
		{"both done", []ev{{a, http.StateActive}, {b, http.StateNew}}, []ev{{a, http.StateIdle}, {b, http.StateHijacked}}, true},
		{"idle conn gets a request", []ev{{a, http.StateIdle}}, []ev{{a, http.StateActive}}, true}, // drained already fired: Close follows at once
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConnTracker()
			for _, e := range tt.before {
				c.track(e.conn, e.state)
			}
			ch := c.drained()
			for _, e := range tt.after {
				c.track(e.conn, e.state)
			}
			select {
			case <-ch:
				if !tt.drained {
					t.Error("drained, want still busy")
				}
			default:
				if tt.drained {
					t.Error("still busy, want drained")
				}
			}
		})
	}
}

// TestConnTrackerOpen: http_server_open_connections counts a connection from its accept to its
// close, idle keep-alive time included.
func TestConnTrackerOpen(t *testing.T) {
	a, b := &net.TCPConn{}, &net.UnixConn{}
	c := newConnTracker()
	for _, step := range []struct {
		conn  net.Conn
		state http.ConnState
		want  float64
	}{
		{a, http.StateNew, 1}, {a, http.StateActive, 1}, {b, http.StateNew, 2}, {a, http.StateIdle, 2},
		{b, http.StateHijacked, 1}, {a, http.StateActive, 1}, {a, http.StateClosed, 0},
	} {
		c.track(step.conn, step.state)
		if got := c.openConns(); got != step.want {
			t.Fatalf("after %v: %v open, want %v", step.state, got, step.want)
		}
	}
}
