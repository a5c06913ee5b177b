// Package chart draws small line charts as inline SVG for the HTML report: series, axes with
// nice ticks and units, a legend, labelled vertical event markers and horizontal reference lines.
//
// It exists so that report.html needs no JavaScript library, no CDN and no network: every chart
// is markup generated here. The output is deterministic (same input, same bytes) so reports can
// be golden-tested, and every piece of caller text is escaped, so a hostile series name or event
// label cannot inject markup.
package chart

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Point is one (x, y) value. A NaN or infinite Y is a gap: the line breaks there.
type Point struct{ X, Y float64 }

// Series is one line of a chart.
type Series struct {
	Name   string
	Points []Point // in X order
	Color  string  // any CSS colour; empty picks the next from the palette
	Dashed bool    // draw dashed, e.g. the "intended" twin of an "actual" series
	Dots   bool    // mark every point; for few points (percentiles, ramp steps)
	NoLine bool    // dots only
}

// Marker is a labelled vertical line at X, e.g. an event on a timeline.
type Marker struct {
	X     float64
	Label string
	Color string // empty: grey
}

// Ref is a labelled horizontal reference line at Y, e.g. an SLO.
type Ref struct {
	Y     float64
	Label string
	Color string // empty: red
}

// Tick is an axis tick at V with a fixed label, for categorical axes (p50, p99, ...).
type Tick struct {
	V     float64
	Label string
}

// Line is a line chart. The zero value of every optional field gives a sensible default.
type Line struct {
	Title   string
	XLabel  string // with its unit, e.g. "time since start (s)"
	YLabel  string // with its unit, e.g. "latency (ms)"
	Series  []Series
	Markers []Marker
	Refs    []Ref
	XTicks  []Tick // fixed X ticks; nil computes nice ticks
	// XSpan, when its second value is above its first, is included in the X range: charts of one
	// timeline pass the same span so their time axes line up.
	XSpan [2]float64
	// YFloor, when true, lets the Y axis start above zero; by default it includes zero because
	// every figure here (latency, counts, bytes) is non-negative and a truncated axis misleads.
	YFloor  bool
	YFormat func(float64) string // Y tick labels; nil: Number
	XUnit   string               // appended to X values in tooltips, e.g. " s"
	YUnit   string               // appended to Y values in tooltips, e.g. " ms"
	Width   int                  // SVG user units; 0: 880
	Height  int                  // 0: 280
}

// paletteColor picks series colours from a colour-blind-friendly set (Okabe-Ito, yellow left out
// as unreadable on white); with the dashes they stay apart in greyscale print too.
func paletteColor(i int) string {
	p := [...]string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"}
	return p[i%len(p)]
}

// maxPoints bounds the points drawn per series; above it series are reduced to the min and max
// of each bucket, which keeps spikes visible (plain striding would drop them).
const maxPoints = 1200

// hoverPoints is the most hover targets (invisible circles with a tooltip) per series; longer
// series get one every few points, which bounds the file size on long runs.
const hoverPoints = 60

// layout constants in SVG user units.
const (
	marginLeft   = 74
	marginRight  = 20
	titleHeight  = 22
	legendRow    = 18
	marginBottom = 42
	fontSize     = 12
	charWidth    = 6.6 // average glyph width at fontSize, for the legend layout
)

// SVG renders the chart as an <svg> element (no XML namespace needed inside HTML, and none is
// written so the report holds no URL at all).
func (c Line) SVG() string {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 880
	}
	if h <= 0 {
		h = 280
	}
	series := make([]Series, len(c.Series))
	for i, s := range c.Series {
		if s.Color == "" {
			s.Color = paletteColor(i)
		}
		s.Points = reduce(s.Points, maxPoints)
		series[i] = s
	}
	legend, top := c.legend(series, w)
	plot := rect{x0: marginLeft, y0: float64(top) + 4, x1: float64(w - marginRight), y1: float64(h - marginBottom)}
	if plot.y1-plot.y0 < 60 { // a legend too long for the height: grow the chart rather than squash the plot
		plot.y1 = plot.y0 + 60
		h = int(plot.y1) + marginBottom
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" font-family="sans-serif" font-size="%d">`,
		w, h, w, h, esc(c.Title), fontSize)
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.Title))
	fmt.Fprintf(&b, `<text x="%d" y="15" font-weight="bold" font-size="13">%s</text>`, marginLeft, esc(c.Title))
	b.WriteString(legend)

	xr, yr, ok := c.ranges(series)
	fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#bbb"/>`,
		num(plot.x0), num(plot.y0), num(plot.x1-plot.x0), num(plot.y1-plot.y0))
	if !ok {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" fill="#666">no data</text>`,
			num((plot.x0+plot.x1)/2), num((plot.y0+plot.y1)/2))
		c.axisLabels(&b, plot, w, h)
		b.WriteString(`</svg>`)
		return b.String()
	}
	yfmt := c.YFormat
	if yfmt == nil {
		yfmt = Number
	}
	c.grid(&b, plot, xr, yr, yfmt)
	c.axisLabels(&b, plot, w, h)
	// Reference lines, then markers, then series on top.
	c.refs(&b, plot, yr)
	c.markers(&b, plot, xr)
	for _, s := range series {
		c.drawSeries(&b, s, plot, xr, yr, yfmt)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// legend lays out the legend under the title, wrapped to the chart width, and returns it with
// where the plot area starts (the legend's height decides it).
func (c Line) legend(series []Series, w int) (string, int) {
	top := titleHeight
	legendY := top + 12
	x := float64(marginLeft)
	var legend strings.Builder
	for _, s := range series {
		item := 28 + charWidth*float64(len([]rune(s.Name))) + 14
		if x+item > float64(w-marginRight) && x > marginLeft {
			x = marginLeft
			legendY += legendRow
		}
		legend.WriteString(`<g class="legend">`)
		if s.NoLine {
			fmt.Fprintf(&legend, `<circle cx="%s" cy="%d" r="3.5" fill="%s"/>`, num(x+11), legendY-4, esc(s.Color))
		} else {
			fmt.Fprintf(&legend, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="%s" stroke-width="2.5"%s/>`,
				num(x), legendY-4, num(x+22), legendY-4, esc(s.Color), dash(s.Dashed))
		}
		fmt.Fprintf(&legend, `<text x="%s" y="%d">%s</text></g>`, num(x+28), legendY, esc(s.Name))
		x += item
	}
	if len(series) > 0 {
		top = legendY + 8
	}
	return legend.String(), top
}

// grid draws the Y grid with its ticks, then the X ticks.
func (c Line) grid(b *strings.Builder, plot rect, xr, yr axis, yfmt func(float64) string) {
	for _, t := range yr.ticks {
		y := plot.y(yr, t)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e4e4e4"/>`, num(plot.x0), num(y), num(plot.x1), num(y))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="end">%s</text>`, num(plot.x0-6), num(y+4), esc(yfmt(t)))
	}
	xticks := c.XTicks
	if xticks == nil {
		for _, t := range xr.ticks {
			xticks = append(xticks, Tick{V: t, Label: Number(t)})
		}
	}
	for _, t := range xticks {
		if t.V < xr.min || t.V > xr.max {
			continue
		}
		x := plot.x(xr, t.V)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e4e4e4"/>`, num(x), num(plot.y0), num(x), num(plot.y1))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`, num(x), num(plot.y1+16), esc(t.Label))
	}
}

// refs draws the horizontal reference lines (an SLO) that fall in the Y range.
func (c Line) refs(b *strings.Builder, plot rect, yr axis) {
	for _, r := range c.Refs {
		if !finite(r.Y) || r.Y < yr.min || r.Y > yr.max {
			continue
		}
		col := r.Color
		if col == "" {
			col = "#c00"
		}
		y := plot.y(yr, r.Y)
		fmt.Fprintf(b, `<line class="ref" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-dasharray="2 3"/>`, num(plot.x0), num(y), num(plot.x1), num(y), esc(col))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="end" fill="%s">%s</text>`, num(plot.x1-4), num(y-4), esc(col), esc(r.Label))
	}
}

// markers draws the vertical event markers that fall in the X range, their labels placed so
// that they do not collide.
func (c Line) markers(b *strings.Builder, plot rect, xr axis) {
	var placed []box
	for _, m := range c.Markers {
		if !finite(m.X) || m.X < xr.min || m.X > xr.max {
			continue
		}
		col := m.Color
		if col == "" {
			col = "#777"
		}
		x := plot.x(xr, m.X)
		fmt.Fprintf(b, `<g class="marker"><line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-dasharray="4 3"/>`, num(x), num(plot.y0), num(x), num(plot.y1), esc(col))
		// Vertical text beside the line: neighbouring events overlap far less than horizontal
		// labels, and place() moves a label that would still collide (SIGTERM and the readiness
		// flip are often milliseconds apart).
		lb := place(placed, x, plot.x0, plot.y0+4, markerCharWidth*float64(len([]rune(m.Label))))
		placed = append(placed, lb)
		tx, ty := lb.x1-2, lb.y0
		fmt.Fprintf(b, `<text x="%s" y="%s" transform="rotate(-90 %s %s)" text-anchor="end" font-size="11" fill="%s">%s</text>`,
			num(tx), num(ty), num(tx), num(ty), esc(col), esc(m.Label))
		fmt.Fprintf(b, `<title>%s at %s</title></g>`, esc(m.Label), esc(Number(m.X)+c.XUnit))
	}
}

func (c Line) axisLabels(b *strings.Builder, plot rect, w, h int) {
	if c.XLabel != "" {
		fmt.Fprintf(b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`, num((plot.x0+plot.x1)/2), h-8, esc(c.XLabel))
	}
	if c.YLabel != "" {
		cy := (plot.y0 + plot.y1) / 2
		fmt.Fprintf(b, `<text x="13" y="%s" transform="rotate(-90 13 %s)" text-anchor="middle">%s</text>`, num(cy), num(cy), esc(c.YLabel))
	}
}

func (c Line) drawSeries(b *strings.Builder, s Series, plot rect, xr, yr axis, yfmt func(float64) string) {
	var path strings.Builder
	pen := false
	for _, p := range s.Points {
		if !finite(p.X) || !finite(p.Y) {
			pen = false // a gap: scrape failed, no requests in the window, ...
			continue
		}
		cmd := "L"
		if !pen {
			cmd = "M"
		}
		fmt.Fprintf(&path, "%s%s %s", cmd, num(plot.x(xr, p.X)), num(plot.y(yr, p.Y)))
		pen = true
	}
	fmt.Fprintf(b, `<g class="series"><title>%s</title>`, esc(s.Name))
	if !s.NoLine && path.Len() > 0 {
		fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.8" stroke-linejoin="round"%s/>`, path.String(), esc(s.Color), dash(s.Dashed))
	}
	// Lone points (a single sample, or one between two gaps) would be invisible as a path: dot them.
	for i, p := range s.Points {
		if !finite(p.X) || !finite(p.Y) {
			continue
		}
		lone := (i == 0 || !finite(s.Points[i-1].Y)) && (i == len(s.Points)-1 || !finite(s.Points[i+1].Y))
		if s.Dots || s.NoLine || lone {
			fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`, num(plot.x(xr, p.X)), num(plot.y(yr, p.Y)), esc(s.Color))
		}
	}
	// Hover targets: invisible circles whose <title> the browser shows as a tooltip, no JS needed.
	stride := max((len(s.Points)+hoverPoints-1)/hoverPoints, 1)
	b.WriteString(`<g class="hover" fill="transparent">`)
	for i, p := range s.Points {
		if i%stride != 0 || !finite(p.X) || !finite(p.Y) {
			continue
		}
		fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="5"><title>%s %s at %s</title></circle>`,
			num(plot.x(xr, p.X)), num(plot.y(yr, p.Y)), esc(s.Name), esc(yfmt(p.Y)+c.YUnit), esc(Number(p.X)+c.XUnit))
	}
	b.WriteString(`</g></g>`)
}

// ranges computes both axes from the finite data, the markers and the reference lines.
func (c Line) ranges(series []Series) (xr, yr axis, ok bool) {
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.Points {
			if !finite(p.X) || !finite(p.Y) {
				continue
			}
			xmin, xmax = math.Min(xmin, p.X), math.Max(xmax, p.X)
			ymin, ymax = math.Min(ymin, p.Y), math.Max(ymax, p.Y)
		}
	}
	if xmin > xmax { // no finite point at all
		return axis{}, axis{}, false
	}
	for _, m := range c.Markers {
		if finite(m.X) {
			xmin, xmax = math.Min(xmin, m.X), math.Max(xmax, m.X)
		}
	}
	if c.XSpan[1] > c.XSpan[0] && finite(c.XSpan[0]) && finite(c.XSpan[1]) {
		xmin, xmax = math.Min(xmin, c.XSpan[0]), math.Max(xmax, c.XSpan[1])
	}
	for _, t := range c.XTicks {
		if finite(t.V) {
			xmin, xmax = math.Min(xmin, t.V), math.Max(xmax, t.V)
		}
	}
	for _, r := range c.Refs {
		if finite(r.Y) {
			ymin, ymax = math.Min(ymin, r.Y), math.Max(ymax, r.Y)
		}
	}
	if !c.YFloor {
		ymin = math.Min(ymin, 0)
		ymax = math.Max(ymax, 0)
	}
	xr, ok1 := niceAxis(xmin, xmax, 8, c.XTicks != nil)
	yr, ok2 := niceAxis(ymin, ymax, 5, false)
	return xr, yr, ok1 && ok2
}

// axis is a data range and its tick values.
type axis struct {
	min, max float64
	ticks    []float64
}

// niceAxis widens [lo, hi] to round tick steps (1, 2, 2.5, 5 × 10^n) with about n ticks. A zero
// range (one point, a flat line) is widened so that it still has a middle. exact keeps the range
// as given (fixed categorical ticks) apart from a half-step pad.
func niceAxis(lo, hi float64, n int, exact bool) (axis, bool) {
	if lo == hi {
		if lo == 0 {
			hi = 1
		} else {
			pad := math.Abs(lo) * 0.5
			lo, hi = lo-pad, hi+pad
		}
	}
	span := hi - lo
	if !finite(span) || span <= 0 {
		return axis{}, false // values so huge their difference overflows: say "no data" rather than draw nonsense
	}
	if exact {
		pad := span * 0.04
		return axis{min: lo - pad, max: hi + pad}, true
	}
	step := niceStep(span / float64(n))
	if step == 0 || !finite(step) {
		return axis{}, false
	}
	start := roundTo(math.Floor(lo/step)*step, step)
	end := roundTo(math.Ceil(hi/step)*step, step)
	if !finite(start) || !finite(end) || end <= start {
		return axis{}, false
	}
	var ticks []float64
	for i := 0; i <= 2*n+2; i++ {
		v := start + float64(i)*step
		if v > end+step/1e6 {
			break
		}
		// Round away float noise (0.30000000000000004) so tick labels read cleanly.
		ticks = append(ticks, roundTo(v, step))
	}
	return axis{min: start, max: end, ticks: ticks}, true
}

func niceStep(raw float64) float64 {
	if raw <= 0 || !finite(raw) {
		return 0
	}
	exp := math.Floor(math.Log10(raw))
	base := math.Pow(10, exp)
	f := raw / base
	switch {
	case f <= 1:
		f = 1
	case f <= 2:
		f = 2
	case f <= 2.5:
		f = 2.5
	case f <= 5:
		f = 5
	default:
		f = 10
	}
	return f * base
}

func roundTo(v, step float64) float64 {
	d := decimals(step)
	if d <= 0 {
		return v
	}
	p := math.Pow(10, float64(d))
	r := math.Round(v*p) / p
	if !finite(r) {
		return v
	}
	return r
}

// decimals is how many decimals a multiple of step needs.
func decimals(step float64) int {
	if step >= 1 || step <= 0 {
		return 0
	}
	return int(math.Ceil(-math.Log10(step))) + 1
}

// markerCharWidth is the average glyph width of marker labels (font-size 11).
const markerCharWidth = 6.2

// box is the area a rotated marker label covers: x0..x1 across, y0..y1 down.
type box struct{ x0, y0, x1, y1 float64 }

func (a box) overlaps(b box) bool { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 }

// place finds room for a vertical label of the given length beside a marker line at x: left of
// the line, else right of it, else further down on the left, below whatever it collides with.
// A line at the left edge (the start event) gets its label on the right, clear of the Y ticks.
func place(placed []box, x, minX, top, length float64) box {
	const thick = 12 // the rotated text's height, now its width
	free := func(c box) bool {
		for _, p := range placed {
			if c.overlaps(p) {
				return false
			}
		}
		return true
	}
	left := box{x0: x - thick - 1, y0: top, x1: x - 1, y1: top + length}
	right := box{x0: x + 1, y0: top, x1: x + thick + 1, y1: top + length}
	if left.x0 < minX && free(right) {
		return right
	}
	if free(left) {
		return left
	}
	if free(right) {
		return right
	}
	for i := 0; i < len(placed)+1; i++ {
		down := 0.0
		for _, p := range placed {
			if left.overlaps(p) {
				down = math.Max(down, p.y1+4)
			}
		}
		if down == 0 {
			break
		}
		left.y0, left.y1 = down, down+length
	}
	return left
}

// rect is the plot area in SVG units.
type rect struct{ x0, y0, x1, y1 float64 }

func (r rect) x(a axis, v float64) float64 { return r.x0 + (v-a.min)/(a.max-a.min)*(r.x1-r.x0) }
func (r rect) y(a axis, v float64) float64 { return r.y1 - (v-a.min)/(a.max-a.min)*(r.y1-r.y0) }

// reduce keeps at most about limit points: the min and the max Y of each bucket, in X order.
func reduce(ps []Point, limit int) []Point {
	if len(ps) <= limit {
		return ps
	}
	buckets := limit / 2
	size := float64(len(ps)) / float64(buckets)
	out := make([]Point, 0, limit)
	for i := 0; i < buckets; i++ {
		lo, hi := int(float64(i)*size), int(float64(i+1)*size)
		if hi > len(ps) {
			hi = len(ps)
		}
		if lo >= hi {
			continue
		}
		mn, mx := -1, -1
		gap := false
		for j := lo; j < hi; j++ {
			if !finite(ps[j].Y) {
				gap = true
				continue
			}
			if mn < 0 || ps[j].Y < ps[mn].Y {
				mn = j
			}
			if mx < 0 || ps[j].Y > ps[mx].Y {
				mx = j
			}
		}
		switch {
		case mn < 0:
			out = append(out, Point{X: ps[lo].X, Y: math.NaN()})
			continue
		case mn == mx:
			out = append(out, ps[mn])
		case mn < mx:
			out = append(out, ps[mn], ps[mx])
		default:
			out = append(out, ps[mx], ps[mn])
		}
		if gap { // keep the break visible rather than bridging it
			out = append(out, Point{X: ps[hi-1].X, Y: math.NaN()})
		}
	}
	return out
}

// Number formats v compactly for a tick or tooltip: 0.25, 12, 1500, 12.5k, 3.2M, 1.1G.
func Number(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 0):
		if v > 0 {
			return "+Inf"
		}
		return "-Inf"
	}
	a := math.Abs(v)
	switch {
	case a >= 1e12:
		return strconv.FormatFloat(v, 'g', 3, 64)
	case a >= 1e9:
		return Trim(v/1e9, 2) + "G"
	case a >= 1e6:
		return Trim(v/1e6, 2) + "M"
	case a >= 1e4:
		return Trim(v/1e3, 1) + "k"
	case a >= 100:
		return Trim(v, 0)
	case a >= 1:
		return Trim(v, 2)
	case a == 0:
		return "0"
	case a >= 0.001:
		return Trim(v, 4)
	default:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
}

// Bytes formats a byte count in decimal units for heap axes: 512 B, 1.5 MB, 2 GB. Decimal, not
// binary, so that nice ticks (2, 4, 6 MB) stay round numbers.
func Bytes(v float64) string {
	a := math.Abs(v)
	switch {
	case !finite(v):
		return Number(v)
	case a >= 1e9:
		return Trim(v/1e9, 2) + " GB"
	case a >= 1e6:
		return Trim(v/1e6, 1) + " MB"
	case a >= 1e3:
		return Trim(v/1e3, 1) + " kB"
	default:
		return Trim(v, 0) + " B"
	}
}

// Trim formats v with at most prec decimals, dropping trailing zeros ("2.50" → "2.5", "-0" → "0").
func Trim(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// num formats an SVG coordinate: one decimal is plenty at these sizes and keeps files small.
func num(v float64) string { return Trim(v, 1) }

func dash(d bool) string {
	if d {
		return ` stroke-dasharray="6 4"`
	}
	return ""
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// esc escapes text and attribute values: html.EscapeString covers < > & ' ".
func esc(s string) string { return html.EscapeString(s) }
