package errclass_test

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/benchharness/benchharness/loadtest/errclass"
)

func TestOf(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{`Get "http://127.0.0.1:1/": dial tcp 127.0.0.1:1: connect: connection refused`, errclass.Refused},
		{`Get "http://x/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, errclass.Timeout},
		{`read tcp 127.0.0.1:2->127.0.0.1:3: read: connection reset by peer`, errclass.Reset},
		{`Get "http://x/": EOF`, errclass.EOF},
		{`Get "http://x/": (local 127.0.0.1:40000) EOF`, errclass.EOF},
		{`Get "http://x/": (local [::1]:40000) read tcp [::1]:40000->[::1]:8080: read: connection reset by peer`, errclass.Reset},
		{`Get "http://x/": context canceled`, errclass.Cancelled},
		{"", errclass.Other},
		{"something else", errclass.Other},
	} {
		if got := errclass.Of(tc.msg); got != tc.want {
			t.Errorf("Of(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

// TestOfErrDial dials a port nobody listens on: the error a real refused connect returns is
// Refused, and so is a wrapped ECONNREFUSED whose text does not say so.
func TestOfErrDial(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, dialErr := net.Dial("tcp", addr)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"dial to a closed port", dialErr, errclass.Refused},
		{"wrapped errno, other text", fmt.Errorf("probe: %w", quiet{syscall.ECONNREFUSED}), errclass.Refused},
		{"nil", nil, ""},
		{"other", errors.New("boom"), errclass.Other},
	} {
		if got := errclass.OfErr(tc.err); got != tc.want {
			t.Errorf("%s: OfErr(%v) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
}

// quiet wraps an error under a message that does not repeat it.
type quiet struct{ err error }

func (quiet) Error() string   { return "probe failed" }
func (q quiet) Unwrap() error { return q.err }

func TestLocal(t *testing.T) {
	for _, tc := range []struct {
		err    error
		want   string
		wantOK bool
	}{
		{fmt.Errorf("Get %q: %w", "http://x/", errclass.WithLocal(errors.New("EOF"), "127.0.0.1:40000")), "127.0.0.1:40000", true},
		{errclass.WithLocal(errors.New("read: connection reset by peer"), "[::1]:5"), "[::1]:5", true},
		{errors.New(`Get "http://x/": EOF`), "", false},
		{errors.New("(local "), "", false},
	} {
		got, ok := errclass.Local(tc.err.Error())
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("Local(%q) = %q, %v; want %q, %v", tc.err, got, ok, tc.want, tc.wantOK)
		}
	}
	if err := errclass.WithLocal(syscall.ECONNRESET, "127.0.0.1:1"); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("WithLocal hides the error it wraps: %v", err)
	}
}
