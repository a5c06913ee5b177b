package history

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/benchharness/benchharness/loadtest/internal/atomicfile"
	"github.com/benchharness/benchharness/loadtest/internal/md"
	"github.com/benchharness/benchharness/loadtest/internal/report/chart"
)

// files are what WriteFiles writes, by file name.
var files = []struct {
	name   string
	render func(io.Writer, History) error
}{
	{"history.json", JSON},
	{"history.md", Markdown},
	{"history.html", HTML},
}

// WriteFiles writes history.json, history.md and history.html into dir, each atomically.
func WriteFiles(dir string, h History) error {
	for _, f := range files {
		if err := atomicfile.Write(filepath.Join(dir, f.name), func(w io.Writer) error { return f.render(w, h) }); err != nil {
			return fmt.Errorf("history: %w", err)
		}
	}
	return nil
}

// JSON writes history.json.
func JSON(w io.Writer, h History) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(h); err != nil {
		return fmt.Errorf("encode history.json: %w", err)
	}
	return nil
}

// Headline says in one line what the history found.
func Headline(h History) string {
	var cps []string
	for _, s := range h.Series {
		for _, c := range s.ChangePoints {
			cps = append(cps, fmt.Sprintf("%s %s %+.1f%% at %s (p=%.3g)", s.Scenario, s.Metric, c.ChangePct, c.Commit, c.P))
		}
	}
	out := fmt.Sprintf("%d runs of %s", h.Runs-len(h.LeftOut), plural(h.Commits, "commit", "commits"))
	if len(cps) == 0 {
		out += ": no change point"
	} else {
		out += fmt.Sprintf(": %s: %s", plural(len(cps), "change point", "change points"), strings.Join(cps, "; "))
	}
	if n := len(h.LeftOut); n > 0 {
		out += "; " + plural(n, "run", "runs") + " left out as unlike"
	}
	if n := len(h.Invalid); n > 0 {
		out += "; " + plural(n, "INVALID scenario", "INVALID scenarios")
	}
	return out
}

// Markdown writes history.md: the change points, then each series as a table, the runs left
// out and the INVALID ones.
func Markdown(w io.Writer, h History) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Run history\n\n**%s.**\n\n", md.Text(upperFirst(Headline(h))))
	fmt.Fprintf(&b, "Runs ordered by %s; every series holds only runs measured alike: %s. %s\n\n", h.OrderedBy, md.Text(h.Like), method(h))
	b.WriteString("## Change points\n\n")
	found := false
	for _, s := range h.Series {
		for _, c := range s.ChangePoints {
			if !found {
				b.WriteString("| scenario | figure | commit | before | after | change | p |\n|---|---|---|---|---|---|---|\n")
				found = true
			}
			fmt.Fprintf(&b, "| %s | %s | %s (after %s) | %s | %s | %+.1f%% | %.3g |\n", md.Text(s.Scenario), md.Text(s.Label),
				md.Code(c.Commit), md.Code(c.Previous), value(c.Before, s.Unit), value(c.After, s.Unit), c.ChangePct, c.P)
		}
	}
	if !found {
		b.WriteString("None found.\n")
	}
	b.WriteString("\n## Series\n\n")
	for _, s := range h.Series {
		fmt.Fprintf(&b, "### %s: %s\n\n| # | commit | runs | value |\n|---|---|---|---|\n", md.Text(s.Scenario), md.Text(s.Label))
		for i, p := range s.Points {
			mark := ""
			for _, c := range s.ChangePoints {
				if c.Index == i {
					mark = fmt.Sprintf(" ◀ change %+.1f%%", c.ChangePct)
				}
			}
			fmt.Fprintf(&b, "| %d | %s | %d | %s%s |\n", i, md.Code(p.Commit), len(p.Runs), value(p.Value, s.Unit), mark)
		}
		b.WriteString("\n")
	}
	writeRunLists(&b, h)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write history.md: %w", err)
	}
	return nil
}

func writeRunLists(b *strings.Builder, h History) {
	b.WriteString("## Runs left out (not measured alike)\n\n")
	if len(h.LeftOut) == 0 {
		b.WriteString("None.\n")
	}
	for _, l := range h.LeftOut {
		fmt.Fprintf(b, "- %s (commit %s, %s): %s\n", md.Code(l.Run), md.Code(l.Commit), md.Code(l.Path), md.Text(l.Reason))
	}
	b.WriteString("\n## INVALID runs (left out of their scenario's series)\n\n")
	if len(h.Invalid) == 0 {
		b.WriteString("None.\n")
	}
	for _, v := range h.Invalid {
		fmt.Fprintf(b, "- %s %s (commit %s): %s\n", md.Code(v.Run), md.Text(v.Scenario), md.Code(v.Commit), md.Text(strings.Join(v.Reasons, "; ")))
	}
}

func method(h History) string {
	return fmt.Sprintf("Change points: E-divisive means on log(value + the metric's absolute limit) over the commits' medians, each split kept when a permutation test (%d shuffles) gives p < %g, at least %d commits a side.",
		h.Detector.Permutations, h.Detector.Alpha, h.Detector.MinSize)
}

// HTML writes history.html: self-contained (inline SVG charts, no script, no network), one
// chart per series with its change points marked.
func HTML(w io.Writer, h History) error {
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Run history</title><style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;max-width:1100px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}h3{font-size:15px;margin:18px 0 4px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.head{font-weight:600;background:#f4f4f4;padding:8px 12px;border-left:4px solid #555}
.cp{color:#b00020}svg{max-width:100%;height:auto}
</style></head><body>
`)
	fmt.Fprintf(&b, "<h1>Run history</h1>\n<p class=\"head\">%s.</p>\n", esc(upperFirst(Headline(h))))
	fmt.Fprintf(&b, "<p>Runs ordered by %s; every series holds only runs measured alike: %s. %s</p>\n", esc(h.OrderedBy), esc(h.Like), esc(method(h)))
	b.WriteString("<h2>Change points</h2>\n")
	rows := 0
	for _, s := range h.Series {
		for _, c := range s.ChangePoints {
			if rows == 0 {
				b.WriteString("<table><tr><th>scenario</th><th>figure</th><th>commit</th><th>before</th><th>after</th><th>change</th><th>p</th></tr>\n")
			}
			rows++
			fmt.Fprintf(&b, "<tr class=\"cp\"><td>%s</td><td>%s</td><td><code>%s</code> (after <code>%s</code>)</td><td>%s</td><td>%s</td><td>%+.1f%%</td><td>%.3g</td></tr>\n",
				esc(s.Scenario), esc(s.Label), esc(c.Commit), esc(c.Previous), esc(value(c.Before, s.Unit)), esc(value(c.After, s.Unit)), c.ChangePct, c.P)
		}
	}
	if rows == 0 {
		b.WriteString("<p>None found.</p>\n")
	} else {
		b.WriteString("</table>\n")
	}
	scenario := ""
	for _, s := range h.Series {
		if s.Scenario != scenario {
			scenario = s.Scenario
			fmt.Fprintf(&b, "<h2>%s</h2>\n", esc(scenario))
		}
		fmt.Fprintf(&b, "<h3>%s</h3>\n%s\n", esc(s.Label), seriesChart(s))
	}
	b.WriteString("<h2>Runs left out and INVALID runs</h2>\n<ul>\n")
	for _, l := range h.LeftOut {
		fmt.Fprintf(&b, "<li>left out: <code>%s</code> (commit <code>%s</code>): %s</li>\n", esc(l.Run), esc(l.Commit), esc(l.Reason))
	}
	for _, v := range h.Invalid {
		fmt.Fprintf(&b, "<li>INVALID: <code>%s</code> %s (commit <code>%s</code>): %s</li>\n", esc(v.Run), esc(v.Scenario), esc(v.Commit), esc(strings.Join(v.Reasons, "; ")))
	}
	if len(h.LeftOut)+len(h.Invalid) == 0 {
		b.WriteString("<li>none</li>\n")
	}
	b.WriteString("</ul>\n</body></html>\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write history.html: %w", err)
	}
	return nil
}

// seriesChart draws one series over commit index, each segment's median as a dashed level and
// each change point as a marker naming its commit.
func seriesChart(s Series) string {
	line := chart.Series{Name: s.Label, Dots: true}
	level := chart.Series{Name: "level between change points", Dashed: true, Color: "#b00020"}
	var ticks []chart.Tick
	step := max(1, len(s.Points)/12)
	for i, p := range s.Points {
		line.Points = append(line.Points, chart.Point{X: float64(i), Y: p.Value})
		if i%step == 0 {
			ticks = append(ticks, chart.Tick{V: float64(i), Label: shortCommit(p.Commit)})
		}
	}
	bounds := []int{0}
	for _, c := range s.ChangePoints {
		bounds = append(bounds, c.Index)
	}
	bounds = append(bounds, len(s.Points))
	for k := 0; k+1 < len(bounds); k++ {
		var v []float64
		for _, p := range s.Points[bounds[k]:bounds[k+1]] {
			v = append(v, p.Value)
		}
		m := median(v)
		level.Points = append(level.Points, chart.Point{X: float64(bounds[k]), Y: m}, chart.Point{X: float64(bounds[k+1] - 1), Y: m})
		if k+2 < len(bounds) {
			level.Points = append(level.Points, chart.Point{X: float64(bounds[k+1]) - 0.5, Y: math.NaN()})
		}
	}
	var markers []chart.Marker
	for _, c := range s.ChangePoints {
		markers = append(markers, chart.Marker{X: float64(c.Index) - 0.5, Label: fmt.Sprintf("%s %+.0f%% p=%.2g", shortCommit(c.Commit), c.ChangePct, c.P), Color: "#b00020"})
	}
	unit := s.Unit
	if unit == "ratio" {
		unit = "0..1"
	}
	return chart.Line{Title: s.Scenario + " " + s.Label, XLabel: "commit (oldest first)", YLabel: strings.TrimSpace(s.Label + " (" + unit + ")"),
		Series: []chart.Series{line, level}, Markers: markers, XTicks: ticks, Height: 220}.SVG()
}

func shortCommit(c string) string {
	if len(c) > 7 && !strings.HasPrefix(c, "unknown-") {
		return c[:7]
	}
	return c
}

func value(v float64, unit string) string {
	switch unit {
	case "ratio":
		return chart.Trim(v*100, 2) + "%"
	case "":
		return chart.Trim(v, 2)
	}
	return chart.Trim(v, 2) + " " + unit
}

func esc(s string) string { return html.EscapeString(s) }

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
