package md

import "testing"

func TestEscaping(t *testing.T) {
	tests := []struct {
		name, in, text, code string
	}{
		{"plain", "p99 latency", "p99 latency", "`p99 latency`"},
		{"pipe and newline", "a|b\nc", `a\|b c`, "`a\\|b c`"},
		{"emphasis and html", "*x* <b>_y_</b>", `\*x\* \<b\>\_y\_\</b\>`, "`*x* <b>_y_</b>`"},
		{"backticks", "a `b` c", "a \\`b\\` c", "``a `b` c``"},
		{"control characters", "a\tb\x00c", "a b c", "`a b c`"},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.text {
			t.Errorf("%s: Text(%q) = %q, want %q", tt.name, tt.in, got, tt.text)
		}
		if got := Code(tt.in); got != tt.code {
			t.Errorf("%s: Code(%q) = %q, want %q", tt.name, tt.in, got, tt.code)
		}
	}
	if got := LinkDest("http://x/a b|(c)"); got != "http://x/a%20b%7C%28c%29" {
		t.Errorf("LinkDest = %q", got)
	}
}

func TestReportCells(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text 12 ms", "plain text 12 ms"},
		{"SHUTDOWN_TIMEOUT", `SHUTDOWN\_TIMEOUT`},
		{"[x](javascript:y)", `\[x\](javascript:y)`},
	} {
		if got := Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"runtime.mallocgc", "`runtime.mallocgc`"},
		{"`x", "`` `x ``"},
	} {
		if got := Code(tc.in); got != tc.want {
			t.Errorf("Code(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
