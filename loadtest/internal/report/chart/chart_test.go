package chart

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestNiceAxis(t *testing.T) {
	for _, tc := range []struct {
		name          string
		lo, hi        float64
		wantMin, wMax float64
		wantTicks     []float64
		ok            bool
	}{
		{"latency", 0, 87, 0, 100, []float64{0, 20, 40, 60, 80, 100}, true},
		{"fractional", 0, 0.3, 0, 0.3, []float64{0, 0.1, 0.2, 0.3}, true},
		{"small", 0.001, 0.0042, 0.001, 0.005, []float64{0.001, 0.002, 0.003, 0.004, 0.005}, true},
		{"zero range at zero", 0, 0, 0, 1, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, true},
		{"zero range", 40, 40, 20, 60, []float64{20, 30, 40, 50, 60}, true},
		{"bytes", 0, 7.6e6, 0, 8e6, []float64{0, 2e6, 4e6, 6e6, 8e6}, true},
		{"overflowing span", -math.MaxFloat64, math.MaxFloat64, 0, 0, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, ok := niceAxis(tc.lo, tc.hi, 5, false)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if a.min != tc.wantMin || a.max != tc.wMax {
				t.Errorf("range = [%v, %v], want [%v, %v]", a.min, a.max, tc.wantMin, tc.wMax)
			}
			if len(a.ticks) != len(tc.wantTicks) {
				t.Fatalf("ticks = %v, want %v", a.ticks, tc.wantTicks)
			}
			for i := range a.ticks {
				if a.ticks[i] != tc.wantTicks[i] {
					t.Errorf("ticks = %v, want %v", a.ticks, tc.wantTicks)
					break
				}
			}
		})
	}
}

func TestNumber(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {0.25, "0.25"}, {12, "12"}, {12.5, "12.5"}, {1500, "1500"}, {12500, "12.5k"},
		{3.2e6, "3.2M"}, {1.1e9, "1.1G"}, {2e15, "2e+15"}, {math.NaN(), "NaN"}, {math.Inf(1), "+Inf"}, {-5, "-5"},
	} {
		if got := Number(tc.v); got != tc.want {
			t.Errorf("Number(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	if got := Bytes(7.6e6); got != "7.6 MB" {
		t.Errorf("Bytes(7.6e6) = %q", got)
	}
}

// coords are the numbers in every SVG coordinate-bearing attribute and path.
var coordRE = regexp.MustCompile(`(?:x|y|x1|x2|y1|y2|cx|cy|width|height|d)="([^"]*)"`)

// svgProblems parses the chart and returns what would make a browser draw garbage: markup that
// does not parse, a NaN or Inf coordinate.
func svgProblems(t *testing.T, svg string) []string {
	t.Helper()
	var problems []string
	if _, err := html.Parse(strings.NewReader(svg)); err != nil {
		problems = append(problems, "parse: "+err.Error())
	}
	for _, m := range coordRE.FindAllStringSubmatch(svg, -1) {
		if strings.Contains(m[1], "NaN") || strings.Contains(m[1], "Inf") {
			problems = append(problems, "bad coordinate "+m[0])
		}
	}
	return problems
}

func TestEdgeCases(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name   string
		c      Line
		noData bool
		has    []string
	}{
		{name: "no series", c: Line{Title: "empty"}, noData: true},
		{name: "empty series", c: Line{Series: []Series{{Name: "a"}}}, noData: true},
		{name: "all NaN", c: Line{Series: []Series{{Name: "a", Points: []Point{{0, nan}, {1, inf}}}}}, noData: true},
		{name: "single point", c: Line{Series: []Series{{Name: "a", Points: []Point{{5, 3}}}}}, has: []string{"<circle cx="}},
		{name: "flat zero", c: Line{Series: []Series{{Name: "a", Points: []Point{{0, 0}, {1, 0}}}}}, has: []string{"<path d=\"M"}},
		{name: "huge values", c: Line{Series: []Series{{Name: "a", Points: []Point{{0, 1e300}, {1, 2e300}}}}}, has: []string{"<path d=\"M"}},
		{name: "overflow", c: Line{YFloor: true, Series: []Series{{Name: "a", Points: []Point{{0, -math.MaxFloat64}, {1, math.MaxFloat64}}}}}, noData: true},
		{name: "marker only beyond data", c: Line{Series: []Series{{Name: "a", Points: []Point{{0, 1}, {1, 2}}}}, Markers: []Marker{{X: 3, Label: "exit"}, {X: nan, Label: "bad"}}}, has: []string{">exit</text>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg := tc.c.SVG()
			if p := svgProblems(t, svg); len(p) > 0 {
				t.Errorf("%v\n%s", p, svg)
			}
			if got := strings.Contains(svg, ">no data<"); got != tc.noData {
				t.Errorf("\"no data\" shown = %v, want %v", got, tc.noData)
			}
			for _, h := range tc.has {
				if !strings.Contains(svg, h) {
					t.Errorf("missing %q in\n%s", h, svg)
				}
			}
			if strings.Contains(svg, ">bad</text>") {
				t.Errorf("a NaN marker was drawn")
			}
		})
	}
}

// TestGapsBreakTheLine checks that a NaN (failed scrape) starts a new subpath and is never drawn
// as zero.
func TestGapsBreakTheLine(t *testing.T) {
	svg := Line{Series: []Series{{Name: "g", Points: []Point{{0, 10}, {1, 12}, {2, math.NaN()}, {3, 11}, {4, 13}}}}}.SVG()
	d := regexp.MustCompile(`<path d="([^"]*)"`).FindStringSubmatch(svg)
	if d == nil {
		t.Fatalf("no path in %s", svg)
	}
	if n := strings.Count(d[1], "M"); n != 2 {
		t.Errorf("path %q has %d subpaths, want 2 (one per side of the gap)", d[1], n)
	}
}

func TestEscapesText(t *testing.T) {
	x := `<script>alert(1)</script>" onload="y`
	svg := Line{Title: x, XLabel: x, YLabel: x, Series: []Series{{Name: x, Color: `red" onclick="z`, Points: []Point{{0, 1}, {1, 2}}}},
		Markers: []Marker{{X: 0.5, Label: x}}, Refs: []Ref{{Y: 1.5, Label: x}}}.SVG()
	doc, err := html.Parse(strings.NewReader(svg))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "script" {
				t.Errorf("a label became a <script>")
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("a label became an attribute %s on <%s>", a.Key, n.Data)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}

// TestReduceKeepsSpikes checks that reduction keeps the extremes a plain stride would drop.
func TestReduceKeepsSpikes(t *testing.T) {
	ps := make([]Point, 10000)
	for i := range ps {
		ps[i] = Point{X: float64(i), Y: 1}
	}
	ps[4321].Y = 900
	ps[777].Y = -5
	out := reduce(ps, 200)
	if len(out) > 200 {
		t.Errorf("reduced to %d points, want ≤ 200", len(out))
	}
	var hi, lo bool
	for i, p := range out {
		hi = hi || p.Y == 900
		lo = lo || p.Y == -5
		if i > 0 && p.X < out[i-1].X {
			t.Fatalf("points out of X order at %d", i)
		}
	}
	if !hi || !lo {
		t.Errorf("spike kept = %v, dip kept = %v", hi, lo)
	}
	if got := reduce(ps[:50], 200); len(got) != 50 {
		t.Errorf("a short series was reduced to %d", len(got))
	}
}

// TestMarkerLabelsDoNotOverlap checks that SIGTERM and the readiness flip a few ms apart get
// separate room.
func TestMarkerLabelsDoNotOverlap(t *testing.T) {
	var placed []box
	for _, x := range []float64{300, 301, 302, 500} {
		b := place(placed, x, 74, 30, 60)
		for _, p := range placed {
			if b.overlaps(p) {
				t.Errorf("label at x=%v overlaps %+v", x, p)
			}
		}
		placed = append(placed, b)
	}
	if b := place(nil, 75, 74, 30, 60); b.x0 < 74 {
		t.Errorf("a label at the left edge went over the Y ticks: %+v", b)
	}
}

func TestDeterministic(t *testing.T) {
	c := Line{Title: "t", Series: []Series{{Name: "a", Points: []Point{{0, 1}, {1, 3}, {2, 2}}}}, Markers: []Marker{{X: 1, Label: "sigterm"}}}
	if c.SVG() != c.SVG() {
		t.Error("two renders differ")
	}
}
