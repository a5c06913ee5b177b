package report

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata from the current output")

// fixtures are the fixed runs every writer is rendered from.
func fixtures() []struct {
	name string
	run  summary.Run
} {
	return []struct {
		name string
		run  summary.Run
	}{
		{"passing", passingRun()},
		{"failing", failingRun()},
		{"interrupted", interruptedRun()},
		{"skipped", skippedRun()},
		{"deploy", deployRun()},
		{"soak", soakRun()},
	}
}

func writers() []struct {
	ext   string
	write func(io.Writer, summary.Run) error
} {
	return []struct {
		ext   string
		write func(io.Writer, summary.Run) error
	}{{"txt", Table}, {"md", Markdown}, {"html", HTML}}
}

func render(t *testing.T, write func(io.Writer, summary.Run) error, r summary.Run) string {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b, r); err != nil {
		t.Fatalf("render: %v", err)
	}
	return b.String()
}

// TestGolden renders every fixture with every writer and compares with testdata/. Run
// `go test ./loadtest/internal/report -update` after an intended change and review the diff.
func TestGolden(t *testing.T) {
	for _, f := range fixtures() {
		for _, w := range writers() {
			t.Run(f.name+"."+w.ext, func(t *testing.T) {
				got := render(t, w.write, f.run)
				path := filepath.Join("testdata", f.name+".golden."+w.ext)
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatalf("update %s: %v", path, err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("read golden (run with -update to create it): %v", err)
				}
				if d := diffLines(string(want), got); d != "" {
					t.Errorf("%s differs from the golden file (run with -update if the change is intended):\n%s", path, d)
				}
			})
		}
	}
}

// TestRenderingIsDeterministic guards the golden files: map iteration or float noise would make
// them flap.
func TestRenderingIsDeterministic(t *testing.T) {
	for _, w := range writers() {
		a, b := render(t, w.write, passingRun()), render(t, w.write, passingRun())
		if a != b {
			t.Errorf("%s: two renders of the same run differ:\n%s", w.ext, diffLines(a, b))
		}
	}
}

// diffLines is a line diff of want and got (- and + lines with one line of context, at most 40
// lines), or "" when they are equal. Golden files are long; a byte-equality failure alone says
// nothing about what changed.
func diffLines(want, got string) string {
	if want == got {
		return ""
	}
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	// lcs[i][j] is the length of the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-', '+'
		line int  // 1-based line in want (for ' ' and '-') or got ('+')
		text string
	}
	var ops []op
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, op{' ', i + 1, a[i]})
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || lcs[i][j+1] > lcs[i+1][j]):
			ops = append(ops, op{'+', j + 1, b[j]})
			j++
		default:
			ops = append(ops, op{'-', i + 1, a[i]})
			i++
		}
	}
	var out strings.Builder
	changed := 0
	for _, o := range ops {
		if o.kind != ' ' {
			changed++
		}
	}
	fmt.Fprintf(&out, "%d lines changed (want %d lines, got %d):\n", changed, len(a), len(b))
	shown, last := 0, -2
	for k, o := range ops {
		near := o.kind != ' ' || (k > 0 && ops[k-1].kind != ' ') || (k+1 < len(ops) && ops[k+1].kind != ' ')
		if !near {
			continue
		}
		if shown == 40 {
			out.WriteString("…\n")
			break
		}
		if k != last+1 {
			fmt.Fprintf(&out, "@@ line %d\n", o.line)
		}
		fmt.Fprintf(&out, "%c %s\n", o.kind, clip(o.text))
		shown, last = shown+1, k
	}
	return out.String()
}

// clip shortens the long single lines of SVG markup to the part worth reading.
func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func TestDiffLinesShowsTheChange(t *testing.T) {
	want := "a\nb\nc\nd\n"
	for _, tc := range []struct {
		name, got string
		has       []string
	}{
		{"equal", want, nil},
		{"changed line", "a\nb\nX\nd\n", []string{"@@ line 2", "- c", "+ X", "  b", "2 lines changed"}},
		{"inserted line", "a\nb\nnew\nc\nd\n", []string{"@@ line 2", "+ new", "1 lines changed"}},
		{"removed line", "a\nc\nd\n", []string{"- b", "1 lines changed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := diffLines(want, tc.got)
			if (d == "") != (tc.has == nil) {
				t.Fatalf("diffLines = %q, want empty: %v", d, tc.has == nil)
			}
			for _, h := range tc.has {
				if !strings.Contains(d, h) {
					t.Errorf("diff does not mention %q:\n%s", h, d)
				}
			}
			if tc.name == "inserted line" && strings.Contains(d, "- ") {
				t.Errorf("an insertion shows removed lines:\n%s", d)
			}
		})
	}
}

// inputURLs are the URLs a run legitimately puts in its report: the trace links, the request
// URLs and the environment's endpoints, shown as text.
func inputURLs(r summary.Run) []string {
	us := []string{r.Env.Target, r.Env.Admin, r.Env.JaegerURL}
	for _, s := range r.Scenarios {
		for _, q := range append(append([]summary.Request{}, s.Slowest...), s.Lost...) {
			us = append(us, q.TraceURL, q.URL)
		}
	}
	return us
}

// traceLinks are the only hrefs a report may hold besides in-page anchors.
func traceLinks(r summary.Run) map[string]bool {
	m := map[string]bool{}
	for _, s := range r.Scenarios {
		for _, q := range append(append([]summary.Request{}, s.Slowest...), s.Lost...) {
			if traceLink(q) != "" {
				m[q.TraceURL] = true
			}
		}
	}
	return m
}

// TestHTMLIsSelfContained parses every report and fails on anything the browser would fetch: a
// script or stylesheet element, an image, a src attribute, an href that is neither an in-page
// anchor nor a trace link from the input, a CSS url() or @import, or any http(s):// text that
// the input did not provide.
func TestHTMLIsSelfContained(t *testing.T) {
	for _, f := range append(fixtures(), struct {
		name string
		run  summary.Run
	}{"hostile", hostileRun()}) {
		t.Run(f.name, func(t *testing.T) {
			out := render(t, HTML, f.run)
			if problems := selfContainedProblems(out, f.run); len(problems) > 0 {
				t.Errorf("report.html is not self-contained:\n%s", strings.Join(problems, "\n"))
			}
		})
	}
}

func selfContainedProblems(out string, r summary.Run) []string {
	var problems []string
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		return []string{"parse: " + err.Error()}
	}
	links := traceLinks(r)
	forbidden := map[string]bool{"script": true, "link": true, "img": true, "iframe": true, "object": true, "embed": true, "base": true, "image": true, "use": true, "foreignobject": true}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if forbidden[strings.ToLower(n.Data)] {
				problems = append(problems, "element <"+n.Data+">")
			}
			for _, a := range n.Attr {
				key := strings.ToLower(a.Key)
				switch {
				case strings.HasPrefix(key, "on"):
					problems = append(problems, fmt.Sprintf("event handler %s=%q", a.Key, a.Val))
				case key == "src" || key == "srcset" || key == "action" || key == "xlink:href" || key == "poster":
					problems = append(problems, fmt.Sprintf("%s=%q", a.Key, a.Val))
				case key == "href" && !strings.HasPrefix(a.Val, "#") && !links[a.Val]:
					problems = append(problems, fmt.Sprintf("href=%q is not a trace link from the input", a.Val))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	rest := out
	// Longest first: a short input (a path) must not cut a hole in a longer one that holds it.
	us := inputURLs(r)
	sort.Slice(us, func(i, j int) bool { return len(us[i]) > len(us[j]) })
	for _, u := range us {
		if u != "" {
			rest = strings.ReplaceAll(rest, html.EscapeString(u), "")
			rest = strings.ReplaceAll(rest, u, "")
		}
	}
	for _, bad := range []string{"http://", "https://", "url(", "@import", "//fonts.", "<script"} {
		if i := strings.Index(strings.ToLower(rest), bad); i >= 0 {
			problems = append(problems, fmt.Sprintf("%q in %q", bad, rest[max(0, i-60):min(len(rest), i+60)]))
		}
	}
	return problems
}

// TestSelfContainedCheckCatchesACDN shows the check above failing: a report that loads a script
// from a CDN, or a stylesheet, or carries a link that is not a trace, is caught.
func TestSelfContainedCheckCatchesACDN(t *testing.T) {
	r := passingRun()
	good := render(t, HTML, r)
	for name, bad := range map[string]string{
		"cdn script":   strings.Replace(good, "</head>", `<script src="https://cdn.example.com/chart.js"></script></head>`, 1),
		"font":         strings.Replace(good, "</style>", `@import "https://fonts.example.com/x.css";</style>`, 1),
		"foreign link": strings.Replace(good, "<footer>", `<footer><a href="https://example.com/">x</a>`, 1),
		"inline js":    strings.Replace(good, "<footer>", `<footer><span onclick="x()">x</span>`, 1),
	} {
		if len(selfContainedProblems(bad, r)) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
	if p := selfContainedProblems(good, r); len(p) > 0 {
		t.Errorf("the real report is flagged: %v", p)
	}
}

// hostileRun carries markup, quotes, pipes and newlines in every string a summary can hold.
func hostileRun() summary.Run {
	r := failingRun()
	const x = `<script>alert("x")</script><img src=x onerror=alert(1)>|pipe` + "\nnewline"
	r.ID = x
	r.PartialReason, r.Partial = x, true
	r.Env.Commit, r.Env.Target, r.Env.ServerInfo = x, x, x
	r.Settings.Profile = x
	r.Settings.Values = map[string]string{x: x}
	s := &r.Scenarios[1]
	s.Name, s.Description = x, x
	s.Reasons = append(s.Reasons, x)
	s.Checks = append(s.Checks, summary.Check{Name: x, Want: x, Got: x})
	s.Events = append(s.Events, summary.Event{OffsetMs: 4500, Name: x, Detail: x})
	s.StatusCodes[x] = 1
	s.ErrorClasses[x] = 1
	s.Shutdown.Classes[x] = 1
	s.Lost = append(s.Lost, summary.Request{Method: x, URL: x, Error: x, Class: x, TraceID: x, Sampled: true, TraceURL: `javascript:alert(1)//"` + x})
	s.TopCPU = []summary.Function{{Name: x}}
	s.Profiles = []summary.Profile{{Kind: x, File: x}}
	return r
}

// TestHTMLEscapesHostileStrings checks that no input string can become markup. The parsed document
// must hold no element or attribute the template did not write, and the text must still read.
func TestHTMLEscapesHostileStrings(t *testing.T) {
	r := hostileRun()
	out := render(t, HTML, r)
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	var texts strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.ElementNode:
			if n.Data == "script" || n.Data == "img" {
				t.Errorf("input became a <%s> element", n.Data)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("input became an attribute %s=%q on <%s>", a.Key, a.Val, n.Data)
				}
				if a.Key == "href" && strings.Contains(strings.ToLower(a.Val), "javascript") {
					t.Errorf("a javascript: URL became a link: %q", a.Val)
				}
			}
		case html.TextNode:
			texts.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if !strings.Contains(texts.String(), `<script>alert("x")</script>`) {
		t.Errorf("the hostile reason is not shown as text")
	}
	if strings.Contains(strings.ToLower(out), "<script") {
		t.Errorf("raw <script in output")
	}
}

// TestMarkdownEscapesTables checks that every table row keeps its column count even when cells
// hold pipes and newlines, and no input text turns into HTML.
func TestMarkdownEscapesTables(t *testing.T) {
	out := render(t, Markdown, hostileRun())
	unescapedPipe := regexp.MustCompile(`(^|[^\\])\|`)
	cols := -1
	for i, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = -1
			continue
		}
		n := len(unescapedPipe.FindAllString(line, -1))
		if cols == -1 {
			cols = n
		} else if n != cols {
			t.Errorf("line %d has %d cell separators, its table header %d: %s", i+1, n, cols, line)
		}
	}
	// Inside code spans markup is literal text, so only the rest must be free of it.
	// A backslash before < keeps it literal (CommonMark escapes).
	prose := stripCodeSpans(out)
	if m := regexp.MustCompile(`(^|[^\\])<(script|img)`).FindString(prose); m != "" {
		t.Errorf("report.md holds raw markup %q", m)
	}
	if strings.Contains(out, "\nnewline") {
		t.Errorf("a newline in input reached report.md")
	}
	if !strings.Contains(out, `\|pipe`) {
		t.Errorf("pipes are not escaped")
	}
	if strings.Contains(out, "](javascript") {
		t.Errorf("a javascript: URL became a link")
	}
}

// stripCodeSpans removes CommonMark code spans: a run of n backticks up to the next run of
// exactly n.
func stripCodeSpans(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '`' {
			b.WriteByte(s[i])
			i++
			continue
		}
		n := 0
		for i+n < len(s) && s[i+n] == '`' {
			n++
		}
		fence := s[i : i+n]
		end := -1
		for j := i + n; j < len(s); {
			k := strings.Index(s[j:], fence)
			if k < 0 {
				break
			}
			k += j
			m := 0
			for k+m < len(s) && s[k+m] == '`' {
				m++
			}
			if m == n {
				end = k
				break
			}
			j = k + m
		}
		if end < 0 { // no closing fence: the backticks are literal
			b.WriteString(fence)
			i += n
			continue
		}
		i = end + n
	}
	return b.String()
}

// TestTable checks the terminal table's promises directly, beside its golden files: verdict in
// the first column, one reasons line per scenario that did not pass, the partial marking and
// the run folder.
func TestTable(t *testing.T) {
	out := render(t, Table, interruptedRun())
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if !strings.HasPrefix(lines[1], "!! INTERRUPTED: interrupted by SIGINT") {
		t.Errorf("line 2 = %q, want the INTERRUPTED banner", lines[1])
	}
	for _, s := range interruptedRun().Scenarios {
		var row, why string
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) > 1 && f[1] == s.Name && f[0] == string(s.Verdict) {
				row = l
			}
			if strings.HasPrefix(l, "  "+string(s.Verdict)+" "+s.Name+":") {
				why = l
			}
		}
		if row == "" {
			t.Errorf("no row starting with %s %s in:\n%s", s.Verdict, s.Name, out)
		}
		if (why == "") != (s.Verdict == summary.Pass) {
			t.Errorf("%s (%s): reasons line %q", s.Name, s.Verdict, why)
		}
	}
	if last := lines[len(lines)-1]; last != "run folder: bench-results/20261125T031500Z" {
		t.Errorf("last line = %q", last)
	}
	hostile := render(t, Table, hostileRun())
	if strings.Contains(hostile, "\nnewline") {
		t.Errorf("a newline in input broke a table line")
	}
}

func TestKeyFigure(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    summary.Scenario
		want string
	}{
		{"steady", steady(summary.Pass), "success 99.95%"},
		{"cancel", cancelScenario(), "cancels seen 100/100, still running 0, cleanup 35 ms"},
		{"shutdown", failingRun().Scenarios[1], "lost 3, writes 40/41, drain 1.02 s, exit 3 (forced)"},
		{"shutdown by -signal-cmd", signalCmdScenario(), "lost 0, writes 40/40, drain 850 ms, exit not measured (-signal-cmd)"},
		{"ramp", rampScenario(), "capacity 800/s"},
		{"ramp none", func() summary.Scenario { s := rampScenario(); s.Ramp.CapacityRate = 0; return s }(), "capacity: no rate met the SLO"},
		{"skipped", summary.Scenario{Verdict: summary.Skipped}, "not run"},
	} {
		if got := keyFigure(tc.s); got != tc.want {
			t.Errorf("%s: keyFigure = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// signalCmdScenario is a shutdown of a server the harness did not start: its exit code is
// not measured, which the checks table must say rather than show as a pass.
func signalCmdScenario() summary.Scenario {
	s := failingRun().Scenarios[1]
	s.Verdict, s.Reasons, s.Lost = summary.Pass, nil, nil
	s.Shutdown = &summary.ShutdownStats{SigtermOffsetMs: 3000, ReadyzFlipMs: 12, ListenerClosedMs: 310, DrainMs: 850, ExitCode: -1,
		DrainTimeoutMs: 5000, SignalCmd: true, Classes: map[string]int64{"completed_before": 300, "completed_after": 120},
		WritesAcked: 40, WritesFound: 40}
	exit := summary.NewCheck(summary.Correctness, "clean exit", true, "exit 0 (graceful drain)", "not measured: the harness did not start the server")
	exit.NotMeasured = true
	s.Checks = []summary.Check{exit}
	return s
}

func TestNotMeasuredIsNoPass(t *testing.T) {
	sc := []summary.Scenario{signalCmdScenario()}
	r := summary.Run{ID: "x", Verdict: summary.Pass, Env: env(), Settings: settings("quick"), Scenarios: sc}
	for _, w := range writers() {
		if w.ext == "txt" {
			continue
		}
		out := render(t, w.write, r)
		for _, want := range []string{"not measured", "drain (signal command → admin listener closed)"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in the report of a -signal-cmd shutdown", w.ext, want)
			}
		}
		if strings.Contains(out, "✅ yes") || strings.Contains(out, "✔ yes") {
			t.Errorf("%s: a check that was not measured is shown as a pass", w.ext)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{ms(0.423), "0.42 ms"}, {ms(12.34), "12.3 ms"}, {ms(250), "250 ms"}, {ms(1250), "1.25 s"},
		{msOrNever(-1), "never"}, {pct(0.0005), "0.05%"}, {rate(199.94), "199.9/s"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestEmptyRun checks that a summary written before any scenario ran still renders.
func TestEmptyRun(t *testing.T) {
	for _, w := range writers() {
		out := render(t, w.write, summary.Run{})
		if !strings.Contains(out, "INVALID") {
			t.Errorf("%s: an empty run should read INVALID (nothing judged):\n%s", w.ext, out)
		}
	}
}

// longRun is a one-hour run: 3600 windows and 36000 sampler points (100 ms), 500 lost requests.
func longRun() summary.Run {
	r := failingRun()
	s := &r.Scenarios[1]
	s.Windows = windows(3600, 100, 6, 1800)
	s.Timeline = nil
	for off := 0.0; off < 3600e3; off += 100 {
		s.Timeline = append(s.Timeline, summary.Sample{OffsetMs: off, Goroutines: 20 + float64(int(off)%7), HeapBytes: 8e6, InFlight: 3})
	}
	for len(s.Lost) < 500 {
		s.Lost = append(s.Lost, s.Lost[0])
	}
	s.Shutdown.Classes["lost"] = 500
	return r
}

// TestLongRunStaysReadable checks that a long run does not produce a report too large to open or
// to post; the charts reduce their points and report.md caps its request tables.
func TestLongRunStaysReadable(t *testing.T) {
	r := longRun()
	if n := len(render(t, HTML, r)); n > 2<<20 {
		t.Errorf("report.html for a one-hour run is %d bytes, want ≤ 2 MiB", n)
	}
	md := render(t, Markdown, r)
	if n := len(md); n > 65536 {
		t.Errorf("report.md is %d bytes, more than a GitHub comment holds (65536)", n)
	}
	if !strings.Contains(md, "Lost requests (50 of 500 listed)") {
		t.Errorf("the lost table does not say it is capped")
	}
}

func BenchmarkHTMLLongRun(b *testing.B) {
	r := longRun()
	var n int
	for b.Loop() {
		var buf bytes.Buffer
		if err := HTML(&buf, r); err != nil {
			b.Fatal(err)
		}
		n = buf.Len()
	}
	b.ReportMetric(float64(n), "bytes/report")
}

func BenchmarkMarkdownLongRun(b *testing.B) {
	r := longRun()
	for b.Loop() {
		if err := Markdown(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

// TestChartDataGaps checks that a failed sampler read and a window without requests are gaps
// (NaN) in the plotted data, never zeros that would read as "the server had no goroutines".
func TestChartDataGaps(t *testing.T) {
	s := summary.Scenario{
		Windows: []summary.Window{{StartMs: 0, Requests: 10, P99: 5}, {StartMs: 1000, Requests: 0}, {StartMs: 2000, Requests: 10, P99: 6}},
		Timeline: []summary.Sample{
			{OffsetMs: 0, Goroutines: 20, DBActive: 1},
			{OffsetMs: 100, ScrapeFailed: true, DBActive: 2},
			{OffsetMs: 200, Goroutines: 21, DBQueryFailed: true},
		},
		Events: []summary.Event{{OffsetMs: 150, Name: summary.EventSigterm}},
	}
	find := func(title, series string) []float64 {
		for _, c := range charts(summary.Run{}, s) {
			if !strings.HasPrefix(c.Title, title) {
				continue
			}
			for _, ser := range c.Series {
				if ser.Name == series {
					var ys []float64
					for _, p := range ser.Points {
						ys = append(ys, p.Y)
					}
					return ys
				}
			}
		}
		t.Fatalf("no series %q in chart %q", series, title)
		return nil
	}
	for _, tc := range []struct {
		title, series string
		gapAt         int
	}{
		{"Latency over time", "p99", 1},
		{"Server: goroutines", "goroutines", 1},
		{"PostgreSQL", "active", 2},
	} {
		ys := find(tc.title, tc.series)
		for i, y := range ys {
			if gap := math.IsNaN(y); gap != (i == tc.gapAt) {
				t.Errorf("%s/%s: point %d = %v, want a gap only at %d", tc.title, tc.series, i, y, tc.gapAt)
			}
		}
	}
	// Every time chart shares the span, so the server's charts line up with the client's.
	for _, c := range charts(summary.Run{}, s) {
		if c.XUnit == " s" && c.XSpan != [2]float64{0, 3} {
			t.Errorf("%s: XSpan = %v, want [0 3] (end of the last window)", c.Title, c.XSpan)
		}
	}
}

func TestDisplayURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:8080/api/v1/items?page=2#bench-delay", "/api/v1/items?page=2"},
		{"/api/v1/items", "/api/v1/items"},
		{"not a url\x7f", "not a url\x7f"},
	} {
		if got := displayURL(tc.in); got != tc.want {
			t.Errorf("displayURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestTraceNotInJaeger checks that a trace the harness looked up and Jaeger did not hold is said
// so in both reports, instead of a link that would open nothing.
func TestTraceNotInJaeger(t *testing.T) {
	r := passingRun()
	missing := false
	r.Scenarios[0].Slowest = []summary.Request{{Method: "GET", URL: "http://x/api/v1/items", Code: 200, LatencyMs: 9,
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Sampled: true, TraceFound: &missing}}
	for name, render := range map[string]func(io.Writer, summary.Run) error{"report.md": Markdown, "report.html": HTML} {
		var b strings.Builder
		if err := render(&b, r); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "(not in Jaeger)") {
			t.Errorf("%s does not say the trace was not in Jaeger", name)
		}
	}
}

// TestWorkersTable checks that a distributed run's scenario has a per-worker table in both
// reports, its cells escaped, a lost worker marked; a single-process run has none.
func TestWorkersTable(t *testing.T) {
	r := passingRun()
	r.Scenarios[0].Workers = []summary.Worker{
		{Addr: "198.18.77.11:7070", Shard: 0, Scheduled: 667, Requests: 667, AchievedRate: 33.35, SendLatenessP99Ms: 0.8,
			FirstSendLateMs: 0.31, ClockOffsetMs: 2000.012, ClockUncertaintyMs: 0.04},
		{Addr: "198.18.77.12:7070", Shard: 1, Scheduled: 667, Requests: 310, Errors: 2, ClockOffsetMs: -0.02, ClockUncertaintyMs: 0.05,
			Lost: "worker 198.18.77.12:7070 lost 9.3s into the attack: unexpected EOF <b>|</b>"},
	}
	for name, render := range map[string]func(io.Writer, summary.Run) error{"report.md": Markdown, "report.html": HTML} {
		var b strings.Builder
		if err := render(&b, r); err != nil {
			t.Fatal(err)
		}
		out := html.UnescapeString(b.String()) // html/template writes + as &#43;
		for _, want := range []string{"Workers", "198.18.77.11:7070", "667 / 667", "+2 s ± 0.04 ms", "+0.31 ms", "−0.02 ms", "lost: worker 198.18.77.12:7070"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in the workers table", name, want)
			}
		}
		if strings.Contains(b.String(), "<b>|</b>") {
			t.Errorf("%s: a worker's loss reason reached the report unescaped", name)
		}
	}
	var b strings.Builder
	if err := Markdown(&b, passingRun()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "### Workers") {
		t.Error("a single-process run has a workers table")
	}
}
