package main

import (
	"errors"
	"strings"
	"testing"
)

// TestServerFindings: the findings are rendered from the rounds' data alone.
func TestServerFindings(t *testing.T) {
	d := newServerData()
	// pgbench: 20 µs client + 60 µs PostgreSQL per request; bare: 30 + 100 + 70; server: 30 + 110 + 60.
	d.account("pgbench", 1e6, 20, -1, 60)
	d.account("bare", 1e6, 30, 100, 70)
	d.account("off", 1e6, 30, 110, 60)
	d.account("traced", 1e6, 30, 143, 60)
	if got := d.account("x", 0, 1, 1, 1); got != -1 {
		t.Errorf("account with no requests = %v, want -1", got)
	}
	d.jaegerCPU, d.tracedSeconds = 5, 50
	got := strings.Join(d.findings(), "\n")
	for _, want := range []string{
		"it used 5.0 CPU-seconds during the rounds, 10 % of one core over the 50 s",
		"bare 100, off 110, traced 143. CPU ratios: off/bare 1.1×, traced/off 1.3×, default/off –×",
		"pgbench 20 + – + 60 = 80; bare handler 30 + 100 + 70 = 200; server 30 + 110 + 60 = 200",
		"server/pgbench ≤ 0.4, bare/pgbench ≤ 0.4, server/bare ≤ 1.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("findings lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "A/B") {
		t.Errorf("an A/B finding without an alt variant:\n%s", got)
	}

	d.spans, d.tracedRequests = 300, 100
	if n := d.p2aNotes(); len(n) != 1 || !strings.Contains(n[0], "3.00 spans per traced request") {
		t.Errorf("p2aNotes = %q", n)
	}
	d.spansErr = errors.New("jaeger gone")
	if n := d.p2aNotes(); len(n) != 1 || !strings.Contains(n[0], "jaeger gone") {
		t.Errorf("p2aNotes with an error = %q", n)
	}
}
