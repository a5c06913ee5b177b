package auth

import "time"

// SetClock replaces the verifier's clock (cache and parser) in tests.
func SetClock(v *Verifier, now func() time.Time) { v.now = now }
