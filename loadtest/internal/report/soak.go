package report

import (
	"fmt"
	"math"

	"github.com/benchharness/benchharness/loadtest/internal/report/chart"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// soakColumns head the soak's trend table in report.md and report.html alike.
var soakColumns = []string{"Resource", "Window", "Slope per hour", "95% interval", "Limit per hour", "Verdict", "Why"}

// soakRows are the soak's trend table, one row per resource, in soakColumns' order.
func soakRows(st *summary.SoakStats) [][]string {
	var rows [][]string
	for _, r := range st.Resources {
		per := " " + r.Unit + "/h"
		slope, interval := "—", "—"
		if r.Verdict != summary.Skipped && len(r.Series) >= 2 {
			slope = signedNum(r.SlopePerHour) + per
			interval = signedNum(r.LowPerHour) + " to " + signedNum(r.HighPerHour)
		}
		rows = append(rows, []string{r.Name, r.Window, slope, interval, chart.Trim(r.LimitPerHour, 2) + per, string(r.Verdict), r.Reason})
	}
	return rows
}

func signedNum(v float64) string {
	s := chart.Trim(v, 2)
	if v >= 0 {
		s = "+" + s
	}
	return s
}

// soakCharts plots each judged resource's windows and its fitted trend line over the judged
// span: the line is what the verdict read, the points what it was read from.
func soakCharts(st *summary.SoakStats, span [2]float64) []chart.Line {
	var out []chart.Line
	for _, r := range st.Resources {
		if len(r.Series) == 0 {
			continue
		}
		pts := make([]chart.Point, len(r.Series))
		for i, p := range r.Series {
			pts[i] = chart.Point{X: p.OffsetMs / 1000, Y: p.Value}
		}
		fromMs := st.FromMs
		at := func(ms float64) chart.Point {
			return chart.Point{X: ms / 1000, Y: r.Intercept + r.SlopePerHour*(ms-fromMs)/msPerHour}
		}
		series := []chart.Series{{Name: "window " + r.Window, Points: pts, Dots: true, NoLine: true}}
		if len(r.Series) >= 2 && !math.IsNaN(r.SlopePerHour) {
			series = append(series, chart.Series{Name: fmt.Sprintf("trend %s %s/h (%s)", signedNum(r.SlopePerHour), r.Unit, r.Verdict),
				Points: []chart.Point{at(fromMs), at(fromMs + st.JudgedMs)}, Dashed: true})
		}
		unit := " " + r.Unit
		if r.Unit == "count" {
			unit = ""
		}
		out = append(out, chart.Line{
			Title: "Soak: " + r.Name + " per window, with its trend", XLabel: "time since start (s)", YLabel: r.Name + " (" + r.Unit + ")",
			XUnit: " s", YUnit: unit, Series: series, XSpan: span, YFloor: true, Height: 200,
		})
	}
	return out
}

const msPerHour = 3600 * 1000
