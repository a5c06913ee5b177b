package summary

import (
	"encoding/json"
	"testing"
)

func TestJudge(t *testing.T) {
	pass := Check{Name: "a", Pass: true}
	slo := Check{Name: "slo", Got: "9", Want: "1", Kind: Performance}
	lost := Check{Name: "lost", Got: "3", Want: "0", Kind: Correctness}
	unknown := Check{Name: "leak", Got: "3", Want: "0"}
	invalid := Check{Name: "generator", Got: "50%", Want: "99%", Kind: Validity}
	tests := []struct {
		name    string
		checks  []Check
		want    Verdict
		reasons []string
	}{
		{"all pass", []Check{pass}, Pass, nil},
		{"a missed objective fails", []Check{pass, slo}, Fail, []string{"slo: got 9, want 1"}},
		{"invalid wins over a missed objective", []Check{slo, invalid}, Invalid,
			[]string{"generator: got 50%, want 99%", "slo: got 9, want 1"}},
		{"a correctness failure wins over invalid", []Check{slo, invalid, lost}, Fail,
			[]string{"lost: got 3, want 0", "slo: got 9, want 1", "generator: got 50%, want 99%"}},
		{"a check of no kind is correctness", []Check{invalid, unknown}, Fail,
			[]string{"leak: got 3, want 0", "generator: got 50%, want 99%"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reasons := Judge(tt.checks)
			if got != tt.want {
				t.Errorf("verdict = %s, want %s", got, tt.want)
			}
			if len(reasons) != len(tt.reasons) {
				t.Fatalf("reasons = %q, want %q", reasons, tt.reasons)
			}
			for i := range reasons {
				if reasons[i] != tt.reasons[i] {
					t.Errorf("reason %d = %q, want %q", i, reasons[i], tt.reasons[i])
				}
			}
		})
	}
}

// TestCheckReadsSchema1 checks that a Check reads the kinds of a version-1 summary, which marked
// validity checks with "invalids" and left correctness checks without a kind.
func TestCheckReadsSchema1(t *testing.T) {
	tests := []struct {
		in   string
		want CheckKind
	}{
		{`{"name":"late","invalids":true}`, Validity},
		{`{"name":"lost"}`, Correctness},
		{`{"name":"p99","kind":"performance"}`, Performance},
		{`{"name":"late","kind":"validity"}`, Validity},
	}
	for _, tt := range tests {
		var c Check
		if err := json.Unmarshal([]byte(tt.in), &c); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if c.Kind != tt.want {
			t.Errorf("%s: kind %q, want %q", tt.in, c.Kind, tt.want)
		}
	}
}
