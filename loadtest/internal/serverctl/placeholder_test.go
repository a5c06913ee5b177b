package serverctl

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		line    string
		want    []string
		wantErr string
	}{
		{line: "bin/notes -addr 127.0.0.1:{port}", want: []string{"bin/notes", "-addr", "127.0.0.1:{port}"}},
		{line: `  sh  -c 'echo a  b; exit 3'  {port} `, want: []string{"sh", "-c", "echo a  b; exit 3", "{port}"}},
		{line: `svc -name "my \"svc\"" -path \x`, want: []string{"svc", "-name", `my "svc"`, "-path", `\x`}},
		{line: `svc ''`, want: []string{"svc", ""}},
		{line: "svc 'open", wantErr: "unterminated ' quote"},
		{line: "   ", wantErr: "empty command"},
	}
	for _, tt := range tests {
		got, err := SplitCommand(tt.line)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("SplitCommand(%q) = %q, %v; want error %q", tt.line, got, err, tt.wantErr)
			}
		case err != nil || !slices.Equal(got, tt.want):
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
}

func TestCheckPlaceholders(t *testing.T) {
	known := []string{PortPlaceholder, AdminPortPlaceholder}
	tests := []struct {
		s       string
		wantErr string
	}{
		{s: "svc -addr :{port} -admin :{admin_port}"},
		{s: `svc -json '{"a":1}'`}, // not a placeholder: braces around other text
		// No shell runs the command, so ${HOME} would reach the service as it is: bad input.
		{s: "svc -dir ${HOME}", wantErr: "unknown placeholder {HOME}"},
		{s: "svc -addr :{prot}", wantErr: "unknown placeholder {prot}"},
		{s: "svc -addr :{Port}", wantErr: "unknown placeholder {Port}"},
	}
	for _, tt := range tests {
		err := CheckPlaceholders(tt.s, known...)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("CheckPlaceholders(%q) = %v, want %q", tt.s, err, tt.wantErr)
		}
	}
}
