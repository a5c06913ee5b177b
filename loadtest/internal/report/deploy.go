package report

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/benchharness/benchharness/loadtest/internal/md"
	"github.com/benchharness/benchharness/loadtest/internal/report/chart"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// deployRows are the deploy figures both writers show, an alarm on each that failed its check.
func deployRows(d *summary.DeployStats) []figureRow {
	strategy := d.Strategy
	if d.MigrateReq >= 0 {
		strategy += fmt.Sprintf(" (tcp_migrate_req=%d)", d.MigrateReq)
	}
	var failed int64
	for _, n := range d.Failures {
		failed += n
	}
	old := fmt.Sprintf("exit %d after %s of %s allowed", d.OldExitCode, msOrNever(d.OldDrainMs), ms(d.DrainLimitMs))
	if d.OldKilled {
		old = "killed: still running past its drain"
	}
	rows := []figureRow{
		{"strategy", strategy, false},
		{"old server told to go at", ms(d.SwitchOffsetMs), false},
		{"new server ready at", msOrNever(d.SuccessorReadyMs), d.SuccessorReadyMs < 0},
		{"longest gap between answers", fmt.Sprintf("%s from %s (max %s)", ms(d.GapMs), ms(d.GapStartMs), ms(d.MaxGapMs)), d.GapMs >= d.MaxGapMs},
		{"failed requests", deployFailures(d, failed), failed > 0},
		{"old server", old, d.OldKilled || d.OldExitCode != 0},
		{"writes acknowledged (201) / found in PostgreSQL", fmt.Sprintf("%d / %d", d.WritesAcked, d.WritesFound), d.WritesFound >= 0 && d.WritesFound < d.WritesAcked},
	}
	for _, in := range d.Instances {
		rows = append(rows, figureRow{fmt.Sprintf("instance %s (%s)", in.ID, in.Role),
			fmt.Sprintf("%d answers, %s → %s", in.Answers, ms(in.FirstAnswerMs), ms(in.LastAnswerMs)), in.Role == "unknown"})
	}
	return rows
}

// deployFailures is "N (class n, ...)", classes in name order.
func deployFailures(d *summary.DeployStats, total int64) string {
	if total == 0 {
		return "0"
	}
	classes := make([]string, 0, len(d.Failures))
	for c := range d.Failures {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	parts := make([]string, len(classes))
	for i, c := range classes {
		parts[i] = fmt.Sprintf("%s %d", c, d.Failures[c])
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

func (m *mdWriter) deploy(s summary.Scenario) {
	d := s.Deploy
	m.p("### Deploy\n\n")
	m.header("lr", "Figure", "Value")
	for _, r := range deployRows(d) {
		name := md.Text(r.Name)
		if r.Alarm {
			name = "**" + name + "**"
		}
		m.row(name, md.Text(r.Value))
	}
	m.p("\n")
	var failed int64
	for _, n := range d.Failures {
		failed += n
	}
	m.requests("Failed requests", d.Failed, failed)
}

// deploySwitch is which instance answered over time: answers per second in each bucket, by the
// old server, the new one, any other, and the failures.
func (p plotter) deploySwitch(d *summary.DeployStats) chart.Line {
	perSec := 1000 / d.SwitchBucketMs
	var old, nw, other, failed []chart.Point
	for _, b := range d.Switch {
		x := secs(b.OffsetMs + d.SwitchBucketMs/2)
		old = append(old, chart.Point{X: x, Y: float64(b.Old) * perSec})
		nw = append(nw, chart.Point{X: x, Y: float64(b.New) * perSec})
		other = append(other, chart.Point{X: x, Y: float64(b.Other) * perSec})
		failed = append(failed, chart.Point{X: x, Y: float64(b.Failed) * perSec})
	}
	series := []chart.Series{
		{Name: "answered by the old server", Points: old, Color: "#0072b2"},
		{Name: "answered by the new server", Points: nw, Color: "#009e73"},
		{Name: "failed", Points: failed, Color: "#d55e00"},
	}
	if hasY(other) {
		series = append(series, chart.Series{Name: "answered by an unknown instance", Points: other, Color: "#cc79a7", Dashed: true})
	}
	return chart.Line{
		Title:  fmt.Sprintf("Deploy switch (%s): who answered, per %s bucket", d.Strategy, ms(d.SwitchBucketMs)),
		XLabel: "time since start (s)", YLabel: "answers per second", XUnit: " s", YUnit: "/s", XSpan: p.span,
		Series: series, Markers: p.markers,
	}
}

func hasY(ps []chart.Point) bool {
	for _, pt := range ps {
		if pt.Y != 0 && !math.IsNaN(pt.Y) {
			return true
		}
	}
	return false
}
