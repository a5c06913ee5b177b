package cli_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/benchharness/benchharness/loadtest/cli"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"usage", cli.Usagef("run: -out is required"), 2},
		{"wrapped usage", fmt.Errorf("run: %w", cli.Usagef("bad flag")), 2},
		{"other failure", errors.New("server crashed"), 1},
	}
	for _, tt := range tests {
		if got := cli.ExitCode(tt.err); got != tt.want {
			t.Errorf("%s: ExitCode = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestUsagefWraps(t *testing.T) {
	err := cli.Usagef("read config: %w", fs.ErrNotExist)
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "read config: file does not exist" {
		t.Fatalf("Usagef = %q; want it to wrap fs.ErrNotExist", err)
	}
}
