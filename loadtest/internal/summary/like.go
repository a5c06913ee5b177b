package summary

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Like is what makes two runs comparable: the same load (profile and the settings that shape
// it), on the same kind of machine, with the same GOMAXPROCS. compare refuses to judge runs
// whose Like differs and history keeps them out of one series. The commit, the Go version and
// the server's environment (-server-env, where the faults are injected) are left out: they are
// what a comparison measures.
type Like struct {
	Profile  string `json:"profile"`
	Platform string `json:"platform"` // GOOS/GOARCH
	CPUs     int    `json:"cpus"`     // logical CPUs the harness saw
	// CPUModel is the machine's processor ("" when the run did not record it: schema ≤ 2).
	CPUModel string `json:"cpu_model,omitempty"`
	// GOMAXPROCS is the harness's (its server's when -server-env sets one); 0 when not recorded.
	GOMAXPROCS int `json:"gomaxprocs,omitempty"`
	// Settings are the run's flags that shape the load, flag name → value (see notLoad).
	Settings map[string]string `json:"settings"`
	// Key is a short hash of the fields above, to name a group of like runs.
	Key string `json:"key"`
}

// notLoad are the flags that say where a run writes, reads or reports, not what load it makes,
// and -server-env, the server's own configuration: a fault injected there is the change under
// test. The seed too: make regress gives each round its own (-seed ROUND), and it draws another
// request mix from the same distribution. Runs that differ only in these are alike.
var notLoad = map[string]bool{
	"seed": true, "out": true, "database-url": true, "server-bin": true, "server-env": true, "scenarios": true,
	"repeat": true, "token-file": true, "prom-sd-file": true, "metrics-addr": true,
	"jaeger-url": true, "workers-wait": true,
}

// LikeOf returns a run's like-for-like key: the one it recorded, or for runs written before it
// was recorded the same built from their settings and environment, with the fields they lack
// left unknown.
func LikeOf(r Run) Like {
	if r.Like != nil {
		return *r.Like
	}
	return NewLike(r.Env, r.Settings)
}

// NewLike builds the like-for-like key of a run with this environment and these settings.
func NewLike(env Environment, s Settings) Like {
	l := Like{Profile: s.Profile, Platform: env.OS + "/" + env.Arch, CPUs: env.NumCPU,
		CPUModel: env.CPUModel, GOMAXPROCS: env.GOMAXPROCS, Settings: map[string]string{}}
	for k, v := range s.Values {
		if !notLoad[k] {
			l.Settings[k] = v
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s\x00%d", l.Profile, l.Platform, l.CPUs, l.CPUModel, l.GOMAXPROCS)
	for _, k := range slices.Sorted(maps.Keys(l.Settings)) {
		fmt.Fprintf(h, "\x00%s=%s", k, l.Settings[k])
	}
	l.Key = hex.EncodeToString(h.Sum(nil))[:12]
	return l
}

// Differs lists what makes l and o unlike, one "what: this vs that" each; empty when they are
// alike. A field or setting only one of them recorded (an older run, a flag added since) is not
// held against them: a new flag at its default makes the load it made before.
func (l Like) Differs(o Like) []string {
	var out []string
	add := func(what, a, b string) {
		if a != b {
			out = append(out, fmt.Sprintf("%s: %s vs %s", what, a, b))
		}
	}
	add("profile", l.Profile, o.Profile)
	add("platform", l.Platform, o.Platform)
	if l.CPUs != 0 && o.CPUs != 0 {
		add("CPUs", fmt.Sprint(l.CPUs), fmt.Sprint(o.CPUs))
	}
	if l.CPUModel != "" && o.CPUModel != "" {
		add("machine", l.CPUModel, o.CPUModel)
	}
	if l.GOMAXPROCS != 0 && o.GOMAXPROCS != 0 {
		add("GOMAXPROCS", fmt.Sprint(l.GOMAXPROCS), fmt.Sprint(o.GOMAXPROCS))
	}
	for _, k := range slices.Sorted(maps.Keys(l.Settings)) {
		if v, ok := o.Settings[k]; ok {
			add("-"+k, l.Settings[k], v)
		}
	}
	return out
}

// String names the key's main parts for a report line.
func (l Like) String() string {
	parts := []string{l.Profile, l.Platform, fmt.Sprintf("%d CPUs", l.CPUs)}
	if l.CPUModel != "" {
		parts = append(parts, l.CPUModel)
	}
	if l.GOMAXPROCS != 0 {
		parts = append(parts, fmt.Sprintf("GOMAXPROCS=%d", l.GOMAXPROCS))
	}
	return strings.Join(parts, ", ") + " (key " + l.Key + ")"
}
