package summary

import (
	"slices"
	"testing"
)

// TestLikeDiffers checks that runs differ by what both recorded; where the output went, the
// server's environment and a flag only one of them knows do not make them unlike.
func TestLikeDiffers(t *testing.T) {
	env := Environment{OS: "linux", Arch: "amd64", NumCPU: 2, CPUModel: "EPYC", GOMAXPROCS: 2}
	set := Settings{Profile: "quick", Values: map[string]string{"rate": "50", "out": "a", "server-env": ""}}
	base := NewLike(env, set)
	tests := []struct {
		name string
		env  func(*Environment)
		set  func(*Settings)
		want []string
	}{
		{"alike", nil, nil, nil},
		{"elsewhere, with a fault", nil, func(s *Settings) { s.Values["out"], s.Values["server-env"] = "b", "BENCH_FAULTS=x" }, nil},
		{"another profile", nil, func(s *Settings) { s.Profile = "default" }, []string{"profile: quick vs default"}},
		{"another rate", nil, func(s *Settings) { s.Values["rate"] = "100" }, []string{"-rate: 50 vs 100"}},
		{"a flag added since", nil, func(s *Settings) { s.Values["new-flag"] = "1" }, nil},
		{"a flag the other lacks", nil, func(s *Settings) { delete(s.Values, "rate") }, nil},
		{"GOMAXPROCS", func(e *Environment) { e.GOMAXPROCS = 1 }, nil, []string{"GOMAXPROCS: 2 vs 1"}},
		{"GOMAXPROCS not recorded", func(e *Environment) { e.GOMAXPROCS = 0 }, nil, nil},
		{"another machine", func(e *Environment) { e.CPUModel = "Xeon" }, nil, []string{"machine: EPYC vs Xeon"}},
		{"more CPUs", func(e *Environment) { e.NumCPU = 4 }, nil, []string{"CPUs: 2 vs 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, s := env, Settings{Profile: set.Profile, Values: map[string]string{}}
			for k, v := range set.Values {
				s.Values[k] = v
			}
			if tt.env != nil {
				tt.env(&e)
			}
			if tt.set != nil {
				tt.set(&s)
			}
			other := NewLike(e, s)
			if got := base.Differs(other); !slices.Equal(got, tt.want) {
				t.Errorf("Differs = %q, want %q", got, tt.want)
			}
			if (other.Key == base.Key) != (tt.name == "alike" || tt.name == "elsewhere, with a fault") {
				t.Errorf("key %s vs %s: equal keys should mean alike settings", other.Key, base.Key)
			}
		})
	}
}

// TestLikeOfOlderRun checks that a run without a recorded key gets one built from its settings.
func TestLikeOfOlderRun(t *testing.T) {
	r := Run{Env: Environment{OS: "linux", Arch: "amd64", NumCPU: 2},
		Settings: Settings{Profile: "quick", Values: map[string]string{"rate": "50"}}}
	l := LikeOf(r)
	if l.Profile != "quick" || l.CPUs != 2 || l.Settings["rate"] != "50" || l.Key == "" {
		t.Errorf("LikeOf = %+v", l)
	}
	stored := Like{Key: "stored"}
	r.Like = &stored
	if LikeOf(r).Key != "stored" {
		t.Errorf("LikeOf ignored the recorded key")
	}
}
