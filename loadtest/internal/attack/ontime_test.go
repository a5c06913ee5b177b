package attack

import (
	"testing"
	"time"
)

// waitPacer asks for the same wait before every hit, or stops.
type waitPacer struct {
	wait time.Duration
	stop bool
}

func (p waitPacer) Pace(time.Duration, uint64) (time.Duration, bool) { return p.wait, p.stop }
func (p waitPacer) Rate(time.Duration) float64                       { return 0 }

func TestOnTimePace(t *testing.T) {
	tests := []struct {
		name     string
		pacer    waitPacer
		closed   bool
		wantWait time.Duration // what vegeta is told to sleep
		wantStop bool
		waited   time.Duration // at least this long inside Pace
	}{
		{"waits a long wait itself and sends at once", waitPacer{wait: 5 * time.Millisecond}, false, 0, false, 5 * time.Millisecond},
		{"leaves a wait under fineFrom to vegeta", waitPacer{wait: fineFrom / 2}, false, fineFrom / 2, false, 0},
		{"sends a hit already due at once", waitPacer{}, false, 0, false, 0},
		{"passes stop on", waitPacer{wait: 5 * time.Millisecond, stop: true}, false, 5 * time.Millisecond, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timer, err := newFineTimer()
			if err != nil {
				t.Fatal(err)
			}
			defer timer.Close()
			began := time.Now()
			wait, stop := onTime{tt.pacer, timer}.Pace(0, 0)
			if took := time.Since(began); took < tt.waited {
				t.Errorf("Pace returned after %v, before the %v wait was over: the hit would go out early", took, tt.waited)
			}
			if wait != tt.wantWait || stop != tt.wantStop {
				t.Errorf("Pace = %v, %v; want %v, %v", wait, stop, tt.wantWait, tt.wantStop)
			}
		})
	}
}

// A closed timer (the attack is over) must not block the pacer, nor lose the rest of the wait.
func TestOnTimeClosedTimer(t *testing.T) {
	timer, err := newFineTimer()
	if err != nil {
		t.Fatal(err)
	}
	if err := timer.Close(); err != nil {
		t.Fatal(err)
	}
	const long = time.Hour
	wait, stop := onTime{waitPacer{wait: long}, timer}.Pace(0, 0)
	if stop || wait <= long-time.Minute || wait > long {
		t.Errorf("Pace on a closed timer = %v, %v; want what is left of %v, false", wait, stop, long)
	}
}

// Every wait the fine timer is given must last at least that long, however short: a timer that
// returns early would send hits before they are due.
func TestFineTimerNeverEarly(t *testing.T) {
	timer, err := newFineTimer()
	if err != nil {
		t.Fatal(err)
	}
	defer timer.Close()
	for _, d := range []time.Duration{time.Nanosecond, 50 * time.Microsecond, time.Millisecond, 3 * time.Millisecond} {
		began := time.Now()
		if err := timer.sleep(d); err != nil {
			t.Fatalf("sleep(%v): %v", d, err)
		}
		if took := time.Since(began); took < d {
			t.Errorf("sleep(%v) returned after %v", d, took)
		}
	}
}
