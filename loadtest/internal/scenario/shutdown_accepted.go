package scenario

import (
	"fmt"
	"net/url"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

const acceptedName = "every accepted request answered (the server's count)"

// acceptedCheck counts the requests lost at close from the server's side, with no timing rule:
// the handlers it started (httpcount's accepted counter, from its last reading before the attack
// to its last after the listener closed) against the responses the client got. A request the
// server accepted and never answered is lost however its failure looked to the client; one it
// never accepted (refused, reset in the accept queue) is not in its count.
func (s *shutdownRun) acceptedCheck() summary.Check {
	const want = "accepted = answered"
	l := s.live
	switch {
	case !l.Signals.Accepted:
		return notAvailable(acceptedName, want, "expose http_server_requests_accepted_total (the httpcount middleware counts it)")
	case sharesPort(l.Signals.MetricsURL, l.Server.API()) || sharesPort(l.Signals.ReadyURL, l.Server.API()):
		// The harness's own scrapes and readiness probes would be in the count.
		return notAvailable(acceptedName, want, "serve /metrics and the readiness probe on a port other than the API's")
	case s.closed.IsZero():
		return notAvailable(acceptedName, want, "the listener's close was not seen")
	}
	base, final, ok := acceptedSpan(l.Sampler.Samples(), l.Offset(l.AttackStart()), l.Offset(s.closed))
	if !ok {
		ch := check(acceptedName, true, want, "not measured: no reading of the counter before the attack and after the listener closed")
		ch.NotMeasured = true
		return ch
	}
	var answered int64
	for _, r := range s.results {
		if r.code != 0 {
			answered++
		}
	}
	accepted := int64(final - base)
	got := fmt.Sprintf("accepted %d, answered %d", accepted, answered)
	if accepted < answered {
		// More answers than handlers started: a reading missed some (the server exited
		// between two samples with requests still arriving). It proves nothing either way.
		ch := check(acceptedName, true, want, got+": not measured (the last reading came before the last request)")
		ch.NotMeasured = true
		return ch
	}
	if lost := accepted - answered; lost > 0 {
		got += fmt.Sprintf(": %d accepted and never answered", lost)
	}
	return check(acceptedName, accepted == answered, want, got)
}

// acceptedSpan returns the accepted counter's last reading at or before the attack's start and
// its highest reading after the listener closed (offsets in ms), and whether both exist.
func acceptedSpan(samples []summary.Sample, attackStartMs, closedMs float64) (base, final float64, ok bool) {
	haveBase, haveFinal := false, false
	for _, sm := range samples {
		if sm.ScrapeFailed {
			continue
		}
		if sm.OffsetMs <= attackStartMs {
			base, haveBase = sm.Accepted, true
		}
		if sm.OffsetMs > closedMs && sm.Accepted >= final {
			final, haveFinal = sm.Accepted, true
		}
	}
	return base, final, haveBase && haveFinal
}

// sharesPort reports whether the URLs a and b name the same host and port.
func sharesPort(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && a != "" && ua.Host == ub.Host
}
