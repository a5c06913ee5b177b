package main

import (
	"net/http"
	"sync/atomic"
)

// keepAlives ends keep-alive on the API once the drain begins: every response from then on says
// "Connection: close", so clients stop reusing their connections during DRAIN_DELAY.
// http.Server.SetKeepAlivesEnabled(false) would say it too, but it also closes the connections
// idle at that moment, and one whose next request was already being read runs its handler on a
// closed socket: the work is done, the answer lost (a GET is then sent again by the client's
// transport, a POST is not). Shutdown closes the idle ones later without that race.
type keepAlives struct{ off atomic.Bool }

func (k *keepAlives) stop() { k.off.Store(true) }

func (k *keepAlives) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k.off.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
