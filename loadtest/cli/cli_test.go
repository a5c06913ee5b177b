package cli_test

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"
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

func TestParseRefusesNonFinite(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"finite", []string{"-share", "0.5", "-n", "3"}, ""},
		{"default left alone", nil, ""},
		{"NaN", []string{"-share", "NaN"}, "-share NaN: want a finite number"},
		{"lower-case nan", []string{"-share=nan"}, "-share NaN: want a finite number"},
		{"infinity", []string{"-share", "-Inf"}, "-share -Inf: want a finite number"},
		{"not a number at all", []string{"-share", "lots"}, "invalid value"},
		{"help", []string{"-h"}, flag.ErrHelp.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.Float64("share", 0.1, "")
			fs.Int("n", 1, "")
			err := cli.Parse(fs, tt.args)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Parse(%q) = %v, want an error with %q", tt.args, err, tt.wantErr)
			}
		})
	}
}
