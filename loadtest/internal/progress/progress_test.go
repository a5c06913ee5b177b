package progress

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/attack"
)

func TestLine(t *testing.T) {
	s := Snapshot{Scenario: "steady", Elapsed: 3 * time.Second, Total: 20 * time.Second, Rate: 99.5, Requests: 300, Errors: 2, P99: 12345 * time.Microsecond}
	tests := []struct {
		name     string
		terminal bool
		updates  []time.Duration // clock offsets of the Update calls
		draws    int
	}{
		{"plain: one line per 5 s", false, []time.Duration{0, time.Second, 4 * time.Second, 5 * time.Second, 6 * time.Second, 10 * time.Second}, 3},
		{"terminal: redrawn every 200 ms", true, []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond, 400 * time.Millisecond}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := NewWith(&buf, tt.terminal)
			t0 := time.Unix(0, 0)
			var now time.Time
			l.now = func() time.Time { return now }
			for _, off := range tt.updates {
				now = t0.Add(off)
				l.Update(s)
			}
			out := buf.String()
			if tt.terminal {
				if got := strings.Count(out, "\r"); got != tt.draws || strings.Contains(out, "\n") {
					t.Errorf("terminal output %q: %d redraws, want %d and no newline before Finish", out, got, tt.draws)
				}
			} else if got := strings.Count(out, "\n"); got != tt.draws || strings.Contains(out, "\r") {
				t.Errorf("plain output %q: %d lines, want %d and no carriage return", out, got, tt.draws)
			}
			l.Finish(s)
			if !strings.HasSuffix(buf.String(), "\n") {
				t.Error("Finish did not end the line")
			}
		})
	}
}

func TestFormat(t *testing.T) {
	got := Format(Snapshot{Scenario: "steady", Elapsed: 3 * time.Second, Total: 20 * time.Second, Rate: 99.5, Requests: 300, Errors: 2, P99: 12345 * time.Microsecond})
	for _, want := range []string{"steady", "3s/20s", "99.5/s", "requests 300", "errors 2", "p99 12.3ms"} {
		if !strings.Contains(got, want) {
			t.Errorf("Format = %q, lacks %q", got, want)
		}
	}
	if w := Format(Snapshot{Scenario: "s", Warmup: true}); !strings.Contains(w, "warm-up") {
		t.Errorf("warm-up not shown: %q", w)
	}
}

func TestNilLine(t *testing.T) {
	var l *Line
	l.Update(Snapshot{})
	l.Finish(Snapshot{})
}

func TestDue(t *testing.T) {
	var buf bytes.Buffer
	l := NewWith(&buf, false)
	t0 := time.Unix(0, 0)
	now := t0
	l.now = func() time.Time { return now }
	if !l.Due() {
		t.Error("a fresh line is not due")
	}
	l.Update(Snapshot{})
	now = t0.Add(PlainEvery - time.Millisecond)
	if l.Due() {
		t.Error("due before the interval passed")
	}
	now = t0.Add(PlainEvery)
	if !l.Due() {
		t.Error("not due after the interval")
	}
	var nilLine *Line
	if nilLine.Due() {
		t.Error("a nil line is due")
	}
}

// TestAttackWarmup: during the warm-up the line shows the warm-up's own traffic (a soak warms up
// for minutes: zeros would read as a stalled generator); once it ends, only counted hits.
func TestAttackWarmup(t *testing.T) {
	l := NewWith(io.Discard, false)
	t0 := time.Unix(0, 0)
	now := t0
	l.now = func() time.Time { return now }
	a := l.Attack("soak", 10*time.Second, 20*time.Second)
	hit := func(counted bool, class string, lat time.Duration) {
		a.Add(&attack.Hit{Result: &vegeta.Result{Latency: lat}, Class: class, Counted: counted})
	}
	for range 40 {
		hit(false, "", 2*time.Millisecond)
	}
	hit(false, "refused", time.Millisecond)
	now = t0.Add(4 * time.Second)
	w := a.snapshot(now)
	if !w.Warmup || w.Requests != 41 || w.Errors != 1 || w.Rate < 10 || w.Rate > 10.5 || w.P99 < time.Millisecond {
		t.Errorf("warm-up snapshot %+v, want 41 requests, 1 error, ~10.25/s and a p99", w)
	}
	hit(true, "", 5*time.Millisecond)
	hit(true, "", 5*time.Millisecond)
	now = t0.Add(12 * time.Second)
	c := a.snapshot(now)
	if c.Warmup || c.Requests != 2 || c.Errors != 0 || c.Rate != 1 {
		t.Errorf("counted snapshot %+v, want 2 requests, 0 errors, 1/s", c)
	}
}
