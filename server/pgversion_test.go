package main

import (
	"context"
	"regexp"
	"testing"

	"github.com/benchharness/benchharness/server/internal/dbtest"
)

// TestCheckPostgresVersion runs the start-up check against the real PostgreSQL of
// TEST_DATABASE_URL: it passes at the real minimum, and a minimum above the running version
// stops the start with an error naming that version. URLs the check cannot use are left to
// postgres.Open.
func TestCheckPostgresVersion(t *testing.T) {
	url := dbtest.BaseURL(t)
	tests := []struct {
		name     string
		url      string
		minMajor int
		wantErr  *regexp.Regexp
	}{
		{"the real minimum", url, minPostgresMajor, nil},
		{"a minimum above the running version", url, 99,
			regexp.MustCompile(`^PostgreSQL [0-9]+\.[0-9]+.* is too old: the server needs 99 or newer`)},
		{"a URL that does not parse", "postgres://%zz", 99, nil},
		{"nothing listening", "postgres://postgres@127.0.0.1:1/items?connect_timeout=1", 99, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPostgresVersion(context.Background(), tt.url, tt.minMajor)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("checkPostgresVersion: %v, want nil", err)
			case tt.wantErr != nil && (err == nil || !tt.wantErr.MatchString(err.Error())):
				t.Fatalf("checkPostgresVersion: %v, want an error matching %q", err, tt.wantErr)
			}
		})
	}
}
