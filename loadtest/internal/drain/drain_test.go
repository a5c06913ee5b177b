package drain_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/drain"
)

// TestFirstNotReady flips a real server's readiness to 503 after a moment: the time returned is
// no earlier than the flip, and a server that stays ready gives none before ctx ends.
func TestFirstNotReady(t *testing.T) {
	for _, tc := range []struct {
		name string
		flip bool
	}{
		{"flips to 503", true},
		{"stays ready", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var notReady atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if notReady.Load() {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			}))
			defer srv.Close()
			flips := make(chan time.Time, 1)
			if tc.flip {
				time.AfterFunc(100*time.Millisecond, func() { flips <- time.Now(); notReady.Store(true) })
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			got, ok := drain.FirstNotReady(ctx, srv.URL+"/readyz")
			if ok != tc.flip {
				t.Fatalf("FirstNotReady ok = %v, want %v", ok, tc.flip)
			}
			if !tc.flip {
				return
			}
			flipped := <-flips
			// A probe sent just before the flip can be answered after it; allow one 5 ms period.
			if got.Before(flipped.Add(-5*time.Millisecond)) || got.After(flipped.Add(time.Second)) {
				t.Errorf("FirstNotReady = %v, flip at %v", got, flipped)
			}
		})
	}
}

// TestFirstRefused closes a real listener part-way: the first refused connect comes after the
// close; an unparsable URL gives none.
func TestFirstRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closes := make(chan time.Time, 1)
	time.AfterFunc(100*time.Millisecond, func() { closes <- time.Now(); l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got, ok := drain.FirstRefused(ctx, "http://"+l.Addr().String())
	closed := <-closes
	if !ok || got.Before(closed.Add(-5*time.Millisecond)) {
		t.Fatalf("FirstRefused = %v, %v; listener closed at %v", got, ok, closed)
	}
	if _, ok := drain.FirstRefused(ctx, "http://[::1"); ok {
		t.Error("FirstRefused saw a refusal on an unparsable URL")
	}
}

func TestReadyStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	url := srv.URL + "/readyz"
	if got := drain.ReadyStatus(context.Background(), url); got != http.StatusServiceUnavailable {
		t.Errorf("ReadyStatus = %d, want 503", got)
	}
	srv.Close()
	if got := drain.ReadyStatus(context.Background(), url); got != 0 {
		t.Errorf("ReadyStatus of a closed server = %d, want 0", got)
	}
}
