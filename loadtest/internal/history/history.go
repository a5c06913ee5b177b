// Package history reads many bench run folders (a CI artifact store, a bench-results/ folder),
// orders them by commit time and finds where each scenario's key figures changed level: the
// commit that made a server slower, even when the change was a drift or landed between two
// comparisons. A series holds only runs measured alike (summary.Like): the others are named and
// left out.
//
//	runs, err := history.Load([]string{"bench-results", "artifacts"})
//	h := history.Build(runs, history.DefaultDetector())
//	err = history.WriteFiles("out", h) // history.html, history.md, history.json
package history

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/internal/compare"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// SchemaVersion is the version of history.json's layout.
const SchemaVersion = 1

// History is what history.json holds and the other files render.
type History struct {
	SchemaVersion int    `json:"schema_version"`
	Runs          int    `json:"runs"` // run folders read
	Commits       int    `json:"commits"`
	Like          string `json:"like"` // the like-for-like key of the runs in the series
	// OrderedBy says how runs were ordered: "commit time", or "run start time" when some run
	// recorded no commit time (summaries of schema ≤ 2).
	OrderedBy string      `json:"ordered_by"`
	Detector  Detector    `json:"detector"`
	Series    []Series    `json:"series"`
	LeftOut   []LeftOut   `json:"left_out"` // runs not measured like the others
	Invalid   []InvalidOf `json:"invalid"`  // scenarios whose figures judge nothing
}

// Series is one key figure of one scenario across commits.
type Series struct {
	Scenario     string   `json:"scenario"`
	Metric       string   `json:"metric"` // compare's metric name
	Label        string   `json:"label"`
	Unit         string   `json:"unit"`
	Points       []Point  `json:"points"`
	ChangePoints []Change `json:"change_points"`
}

// Point is one commit's value: the median over its runs.
type Point struct {
	Commit     string    `json:"commit"`
	CommitTime time.Time `json:"commit_time,omitzero"`
	Runs       []string  `json:"runs"`
	Value      float64   `json:"value"`
}

// Change is a change point: the series' level moved at Commit.
type Change struct {
	Index     int     `json:"index"`  // of the first point after the change
	Commit    string  `json:"commit"` // that point's commit: the first with the new level
	Previous  string  `json:"previous_commit"`
	Before    float64 `json:"before"`     // median of the points since the change before it
	After     float64 `json:"after"`      // median of the points up to the next change
	ChangePct float64 `json:"change_pct"` // (after − before) / before × 100; 0 when before is 0
	P         float64 `json:"p"`
}

// LeftOut is a run kept out of the series, and why.
type LeftOut struct {
	Run    string `json:"run"`
	Path   string `json:"path"`
	Commit string `json:"commit"`
	Reason string `json:"reason"`
}

// InvalidOf is a run's scenario that was INVALID: the generator fell behind, so its figures are
// not in the series.
type InvalidOf struct {
	Run      string   `json:"run"`
	Commit   string   `json:"commit"`
	Scenario string   `json:"scenario"`
	Reasons  []string `json:"reasons"`
}

// Load finds every summary.json (or summary.json.gz) under dirs, at any depth, and reads it.
// Symbolic links are not followed (bench-results/latest points at a run already there).
func Load(dirs []string) ([]compare.Input, error) {
	var out []compare.Input
	seen := map[string]bool{}
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%s does not exist", dir)
			}
			return nil, fmt.Errorf("stat %s: %w", dir, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a folder", dir)
		}
		err = filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if de.IsDir() || (de.Name() != "summary.json" && de.Name() != "summary.json.gz") {
				return nil
			}
			if seen[filepath.Dir(path)] {
				return nil // a folder with both: summary.json is read, the .gz copy skipped
			}
			seen[filepath.Dir(path)] = true
			r, err := summary.Read(path)
			if err != nil {
				return err
			}
			out = append(out, compare.Input{Path: path, Dir: filepath.Dir(path), Run: r})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read runs under %s: %w", dir, err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no summary.json under %s", strings.Join(dirs, ", "))
	}
	return out, nil
}

// Build orders the runs by commit time, keeps those measured like most of the others, and finds
// the change points of every scenario's key figures.
func Build(runs []compare.Input, d Detector) History {
	h := History{SchemaVersion: SchemaVersion, Runs: len(runs), Detector: d, OrderedBy: "commit time",
		Series: []Series{}, LeftOut: []LeftOut{}, Invalid: []InvalidOf{}}
	runs = append([]compare.Input(nil), runs...)
	for _, r := range runs {
		if r.Run.Env.CommitTime.IsZero() {
			h.OrderedBy = "run start time (a run recorded no commit time)"
		}
	}
	sort.SliceStable(runs, func(i, j int) bool { return before(runs[i].Run, runs[j].Run, h.OrderedBy == "commit time") })

	kept, ref := alike(runs, &h)
	h.Like = ref.String()
	commits := groupCommits(kept)
	h.Commits = len(commits)
	for _, in := range kept {
		for _, s := range in.Run.Scenarios {
			if s.Verdict == summary.Invalid {
				h.Invalid = append(h.Invalid, InvalidOf{Run: in.Run.ID, Commit: commitOf(in.Run), Scenario: s.Name, Reasons: s.Reasons})
			}
		}
	}
	for _, name := range compare.ScenarioOrder(kept) {
		values := compare.RunValues(kept, name)
		for _, m := range compare.Metrics() {
			vals, ok := values[m.Name]
			if !ok {
				continue
			}
			s := Series{Scenario: name, Metric: m.Name, Label: m.Label, Unit: m.Unit, ChangePoints: []Change{}}
			for _, c := range commits {
				var v []float64
				var ids []string
				for _, i := range c.runs {
					if !math.IsNaN(vals[i]) {
						v, ids = append(v, vals[i]), append(ids, kept[i].Run.ID)
					}
				}
				if len(v) > 0 {
					s.Points = append(s.Points, Point{Commit: c.commit, CommitTime: c.time, Runs: ids, Value: median(v)})
				}
			}
			s.ChangePoints = changes(s.Points, d, compare.DefaultThresholds().Metrics[m.Name].MinAbsChange)
			h.Series = append(h.Series, s)
		}
	}
	return h
}

// changes finds the change points of a series of commits, on log(value + offset) as compare
// judges (the limits are relative, latencies skewed; the offset keeps zeros finite).
func changes(points []Point, d Detector, offset float64) []Change {
	x := make([]float64, len(points))
	for i, p := range points {
		x[i] = math.Log(p.Value + offset)
	}
	cps := d.Find(x)
	out := []Change{}
	for k, cp := range cps {
		lo, hi := 0, len(points)
		if k > 0 {
			lo = cps[k-1].Index
		}
		if k+1 < len(cps) {
			hi = cps[k+1].Index
		}
		var b, a []float64
		for _, p := range points[lo:cp.Index] {
			b = append(b, p.Value)
		}
		for _, p := range points[cp.Index:hi] {
			a = append(a, p.Value)
		}
		c := Change{Index: cp.Index, Commit: points[cp.Index].Commit, Previous: points[cp.Index-1].Commit,
			Before: median(b), After: median(a), P: cp.P}
		if c.Before != 0 {
			c.ChangePct = (c.After - c.Before) / math.Abs(c.Before) * 100
		}
		out = append(out, c)
	}
	return out
}

// alike keeps the runs measured like the run that is alike with most others, and lists the
// rest in h.LeftOut with what differs.
func alike(runs []compare.Input, h *History) ([]compare.Input, summary.Like) {
	likes := make([]summary.Like, len(runs))
	for i, r := range runs {
		likes[i] = summary.LikeOf(r.Run)
	}
	best, bestN := 0, -1
	for i := range likes {
		n := 0
		for j := range likes {
			if len(likes[i].Differs(likes[j])) == 0 {
				n++
			}
		}
		if n > bestN {
			best, bestN = i, n
		}
	}
	var kept []compare.Input
	for i, r := range runs {
		if d := likes[best].Differs(likes[i]); len(d) > 0 {
			h.LeftOut = append(h.LeftOut, LeftOut{Run: r.Run.ID, Path: r.Path, Commit: commitOf(r.Run),
				Reason: "not measured like the others: " + strings.Join(d, ", ")})
			continue
		}
		kept = append(kept, r)
	}
	return kept, likes[best]
}

type commitRuns struct {
	commit string
	time   time.Time
	runs   []int // indexes into the kept runs
}

// groupCommits gathers consecutive runs of one commit (the runs are in commit order).
func groupCommits(runs []compare.Input) []commitRuns {
	var out []commitRuns
	index := map[string]int{}
	for i, r := range runs {
		c := commitOf(r.Run)
		if k, ok := index[c]; ok {
			out[k].runs = append(out[k].runs, i)
			continue
		}
		index[c] = len(out)
		out = append(out, commitRuns{commit: c, time: r.Run.Env.CommitTime, runs: []int{i}})
	}
	return out
}

// commitOf names a run's commit, "+dirty" when its tree had uncommitted changes (those are not
// the commit's figures), or its run id when it recorded none.
func commitOf(r summary.Run) string {
	c := r.Env.Commit
	if c == "" {
		return "unknown-" + r.ID
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if r.Env.Dirty {
		c += "+dirty"
	}
	return c
}

func before(a, b summary.Run, byCommit bool) bool {
	if byCommit && !a.Env.CommitTime.Equal(b.Env.CommitTime) {
		return a.Env.CommitTime.Before(b.Env.CommitTime)
	}
	if !a.StartedAt.Equal(b.StartedAt) {
		return a.StartedAt.Before(b.StartedAt)
	}
	return a.ID < b.ID
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
