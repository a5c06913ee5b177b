package report

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/benchharness/benchharness/loadtest/internal/report/chart"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

//go:embed report.html.tmpl
var htmlSource string

// HTML writes report.html: one self-contained file (inline CSS and SVG generated here, no
// script, no font, no URL to fetch) with the verdict summary first, then per scenario its checks,
// figures and plots: latency over time, actual vs intended percentiles, throughput and errors,
// the server timeline with events marked, the ramp when there is one, the slowest and lost
// requests with trace links and the top CPU functions. html/template escapes every input string;
// the charts escape their own text.
func HTML(w io.Writer, r summary.Run) error {
	// Parsed per call rather than held in a package variable: rendering happens once per run,
	// and the package keeps no state.
	t, err := template.New("report").Funcs(template.FuncMap{
		"ms":         ms,
		"msOrNever":  msOrNever,
		"rate":       rate,
		"pct":        pct,
		"num":        func(v float64) string { return chart.Trim(v, 1) },
		"bytes":      bytesText,
		"lower":      func(v summary.Verdict) string { return strings.ToLower(string(v)) },
		"errs":       errorsCell,
		"inc":        func(i int) int { return i + 1 },
		"displayURL": displayURL,
		"pair":       pair,
		"stepLabel":  stepLabel,
		"stepCPU":    stepCPU,
		"soakCols":   func() []string { return soakColumns },
	}).Parse(htmlSource)
	if err != nil {
		return fmt.Errorf("parse html report template: %w", err)
	}
	if err := t.Execute(w, newHTMLView(r)); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

// htmlView is what the template reads: the run plus everything precomputed, so that the
// template holds layout only.
type htmlView struct {
	Run           summary.Run
	WorkerColumns []string
	Verdict       summary.Verdict
	Banner        string
	Commit        string
	Elapsed       string
	Folder        string
	Scenarios     []scenarioView
}

type scenarioView struct {
	S         summary.Scenario
	ID        string
	Ran       bool
	Key       string
	Reasons   []string
	Latency   []latencyRow
	Codes     []countRow
	Classes   []countRow
	Shutdown  []figureRow
	SDClasses []countRow
	Deploy    []figureRow
	Failed    []requestRow
	FailedN   int64
	Cancel    []figureRow
	Charts    []template.HTML
	Lost      []requestRow
	LostTitle string
	Net       []figureRow  // "Network (kernel)"
	NetNote   string       // why the kernel's counters are not this server's alone
	Queued    []requestRow // requests reset in the kernel's accept queue
	HasServer bool
	Slowest   []requestRow
	Workers   []workerRow
	Soak      [][]string // the soak's trend table (soakRows)
}

type workerRow struct {
	Cells []string
	Alarm bool
}

type latencyRow struct {
	Name string
	L    summary.Latencies
}

type countRow struct {
	Name  string
	N     int64
	Alarm bool
}

type figureRow struct {
	Name, Value string
	Alarm       bool
}

type requestRow struct {
	summary.Request
	Link     string
	ErrorTxt string
	NotFound bool // the harness asked Jaeger and the trace was not there
}

func newHTMLView(r summary.Run) htmlView {
	v := htmlView{Run: r, WorkerColumns: workerColumns, Verdict: runVerdict(r), Banner: partialBanner(r), Commit: shortCommit(r.Env), Elapsed: elapsed(r), Folder: runFolder(r)}
	for i, s := range r.Scenarios {
		v.Scenarios = append(v.Scenarios, newScenarioView(r, i, s))
	}
	return v
}

func newScenarioView(r summary.Run, i int, s summary.Scenario) scenarioView {
	sv := scenarioView{
		S: s, ID: fmt.Sprintf("s%d-%s", i+1, idSafe(s.Name)), Ran: scenarioRan(s), Key: keyFigure(s), Reasons: reasons(s),
		Latency:   []latencyRow{{"actual (from send)", s.Latency}, {"intended (from schedule)", s.LatencyIntended}, {"send lateness", s.SendLateness}},
		HasServer: s.Server != (summary.ServerStats{}),
	}
	sv.LostTitle = fmt.Sprintf("Lost requests (%d)", len(s.Lost))
	if n := lostCount(s); n > int64(len(s.Lost)) {
		sv.LostTitle = fmt.Sprintf("Lost requests (%d of %d listed)", len(s.Lost), n)
	}
	for _, k := range sortedCounts(s.StatusCodes) {
		sv.Codes = append(sv.Codes, countRow{Name: statusName(k), N: s.StatusCodes[k], Alarm: k == "0" || strings.HasPrefix(k, "5")})
	}
	for _, k := range sortedCounts(s.ErrorClasses) {
		sv.Classes = append(sv.Classes, countRow{Name: k, N: s.ErrorClasses[k]})
	}
	if c := s.Cancel; c != nil {
		sv.Cancel = []figureRow{
			{"cancel share / delay / client timeout", fmt.Sprintf("%s / %s / %s", pct(c.CancelShare), ms(c.DelayMs), ms(c.ClientTimeoutMs)), false},
			{"cancels sent by the client", fmt.Sprint(c.CancelsSent), false},
			{"cancels seen by the server", fmt.Sprint(c.CancelsSeen), c.CancelsSeen < c.CancelsSent},
			{"cleanup (last cancel → no cancelled query)", msOrNever(c.CleanupMs), c.CleanupMs < 0},
			{"cancelled queries still running after settle", fmt.Sprint(c.StillRunning), c.StillRunning > 0},
			{"pool acquired after settle", chart.Trim(c.PoolAcquiredAfter, 1), c.PoolAcquiredAfter > 0},
			{"goroutines leaked (after − baseline)", chart.Trim(c.GoroutinesLeaked, 1), false},
			{"p99 of non-cancelled requests (from the intended send)", ms(c.NonCancelledP99Ms), false},
		}
	}
	if sd := s.Shutdown; sd != nil {
		exit := exitText(sd)
		if sd.Forced {
			exit += " (forced: stragglers closed)"
		}
		sv.Shutdown = []figureRow{
			{"SIGTERM at", ms(sd.SigtermOffsetMs), false},
			{"/readyz → 503 after SIGTERM", msOrNever(sd.ReadyzFlipMs), sd.ReadyzFlipMs < 0},
			{"listener closed after SIGTERM", msOrNever(sd.ListenerClosedMs), false},
			{drainLabel(sd), fmt.Sprintf("%s of %s allowed", msOrNever(sd.DrainMs), ms(sd.DrainTimeoutMs)), sd.DrainMs > sd.DrainTimeoutMs},
			{"exit code", exit, (sd.ExitCode != 0 && !sd.SignalCmd) || sd.Forced},
			{"longest request in flight at SIGTERM", ms(sd.LongestInFlightMs), false},
			{"writes acknowledged (201) / found in PostgreSQL", fmt.Sprintf("%d / %d", sd.WritesAcked, sd.WritesFound), sd.WritesFound < sd.WritesAcked},
		}
		if len(sd.MissingIDs) > 0 {
			ids := make([]string, 0, len(sd.MissingIDs))
			for _, id := range sd.MissingIDs {
				ids = append(ids, fmt.Sprint(id))
			}
			sv.Shutdown = append(sv.Shutdown, figureRow{"missing ids", strings.Join(ids, ", "), true})
		}
		for _, q := range sd.AcceptQueue {
			sv.Queued = append(sv.Queued, newRequestRow(q))
		}
		for _, k := range shutdownClasses(sd.Classes) {
			sv.SDClasses = append(sv.SDClasses, countRow{Name: k, N: sd.Classes[k], Alarm: k == "lost" && sd.Classes[k] > 0})
		}
	}
	sv.Net, sv.NetNote = netRows(s)
	if d := s.Deploy; d != nil {
		sv.Deploy = deployRows(d)
		for _, q := range d.Failed {
			sv.Failed = append(sv.Failed, newRequestRow(q))
		}
		for _, n := range d.Failures {
			sv.FailedN += n
		}
	}
	for _, w := range s.Workers {
		cells, alarm := workerCells(w)
		sv.Workers = append(sv.Workers, workerRow{Cells: cells, Alarm: alarm})
	}
	for _, q := range s.Lost {
		sv.Lost = append(sv.Lost, newRequestRow(q))
	}
	for _, q := range s.Slowest {
		sv.Slowest = append(sv.Slowest, newRequestRow(q))
	}
	if s.Soak != nil {
		sv.Soak = soakRows(s.Soak)
	}
	if sv.Ran {
		for _, c := range charts(r, s) {
			// The chart package escapes every caller string it writes; see its tests.
			sv.Charts = append(sv.Charts, template.HTML(c.SVG()))
		}
	}
	return sv
}

// pair joins two figures as "a / b" for a table cell that may wrap between them but never
// inside one ("1.52 ms" stays whole): no-break spaces within each figure.
func pair(a, b string) string {
	nb := func(s string) string { return strings.ReplaceAll(s, " ", "\u00a0") }
	if b == "" {
		return nb(a)
	}
	return nb(a) + " / " + nb(b)
}

// idSafe makes a scenario name usable in an element id.
func idSafe(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

func newRequestRow(q summary.Request) requestRow {
	return requestRow{Request: q, Link: traceLink(q), ErrorTxt: requestError(q), NotFound: q.TraceFound != nil && !*q.TraceFound}
}

// charts builds a scenario's plots from its windows, timeline, events and ramp.
func charts(r summary.Run, s summary.Scenario) []chart.Line {
	p := newPlotter(r, s)
	out := append(p.latency(), p.throughput())
	if len(s.Timeline) > 0 || len(s.Events) > 0 {
		out = append(out, p.server()...)
	}
	if q, ok := p.acceptQueue(); ok {
		out = append(out, q)
	}
	if c := s.Contention; c != nil && len(c.Windows) > 0 {
		out = append(out, p.contention(c, r.Settings.Values["max-neighbour-share"]))
	}
	if rs := s.Ramp; rs != nil && len(rs.Steps) > 0 {
		out = append(out, p.ramp(rs)...)
	}
	if d := s.Deploy; d != nil && len(d.Switch) > 0 {
		out = append([]chart.Line{p.deploySwitch(d)}, out...)
	}
	if s.Soak != nil {
		out = append(out, soakCharts(s.Soak, p.span)...)
	}
	return out
}

// plotter holds what every chart of a scenario shares: one time span, the event markers, the
// SLO reference and the windows' lengths.
type plotter struct {
	s       summary.Scenario
	markers []chart.Marker
	refs    []chart.Ref
	lengths []float64
	span    [2]float64
}

func newPlotter(r summary.Run, s summary.Scenario) plotter {
	p := plotter{s: s, markers: eventMarkers(s.Events), lengths: windowLengths(s.Windows)}
	p.span = timeSpan(s, p.lengths)
	if r.Settings.SLOP99Ms > 0 {
		p.refs = []chart.Ref{{Y: r.Settings.SLOP99Ms, Label: "SLO p99 " + ms(r.Settings.SLOP99Ms)}}
	}
	return p
}

func secs(v float64) float64 { return v / 1000 }

// mid is where window i is drawn: a window's figures describe the whole window, so they are
// drawn at its middle; events keep their exact times.
func (p plotter) mid(i int) float64 { return secs(p.s.Windows[i].StartMs + p.lengths[i]/2) }

// latency plots latency over time (a window with no request is a gap, not a zero), and the
// percentiles actual vs intended, whose distance is coordinated omission.
func (p plotter) latency() []chart.Line {
	nan := math.NaN()
	var p50, p99, mx []chart.Point
	for i, w := range p.s.Windows {
		x := p.mid(i)
		if w.Requests == 0 {
			p50, p99, mx = append(p50, chart.Point{X: x, Y: nan}), append(p99, chart.Point{X: x, Y: nan}), append(mx, chart.Point{X: x, Y: nan})
			continue
		}
		p50 = append(p50, chart.Point{X: x, Y: w.P50})
		p99 = append(p99, chart.Point{X: x, Y: w.P99})
		mx = append(mx, chart.Point{X: x, Y: w.Max})
	}
	overTime := sloRefIfNear(p.refs, p99, mx)
	names := []string{"p50", "p90", "p95", "p99", "p99.9", "max"}
	pick := func(l summary.Latencies) []chart.Point {
		vs := []float64{l.P50, l.P90, l.P95, l.P99, l.P999, l.Max}
		ps := make([]chart.Point, len(vs))
		for i, v := range vs {
			ps[i] = chart.Point{X: float64(i), Y: v}
		}
		return ps
	}
	ticks := make([]chart.Tick, len(names))
	for i, n := range names {
		ticks[i] = chart.Tick{V: float64(i), Label: n}
	}
	pcts := sloRefIfNear(p.refs, pick(p.s.Latency), pick(p.s.LatencyIntended))
	return []chart.Line{{
		Title: "Latency over time (actual, per second)" + sloNote(p.refs, overTime), XLabel: "time since start (s)", YLabel: "latency (ms)", XUnit: " s", XSpan: p.span, YUnit: " ms",
		Series:  []chart.Series{{Name: "p50", Points: p50}, {Name: "p99", Points: p99}, {Name: "max", Points: mx, Dashed: true}},
		Markers: p.markers, Refs: overTime,
	}, {
		Title: "Latency percentiles, actual vs intended: the gap is coordinated omission" + sloNote(p.refs, pcts), XLabel: "percentile", YLabel: "latency (ms)", YUnit: " ms",
		Series: []chart.Series{
			{Name: "actual (from send)", Points: pick(p.s.Latency), Dots: true},
			{Name: "intended (from schedule)", Points: pick(p.s.LatencyIntended), Dots: true, Dashed: true},
		},
		XTicks: ticks, Refs: pcts, Height: 260,
	}}
}

// throughput plots sent, successful and errors per second.
func (p plotter) throughput() chart.Line {
	var sent, ok, errs []chart.Point
	for i, w := range p.s.Windows {
		x := p.mid(i)
		length := secs(p.lengths[i])
		sent = append(sent, chart.Point{X: x, Y: w.Rate})
		ok = append(ok, chart.Point{X: x, Y: w.Throughput})
		errs = append(errs, chart.Point{X: x, Y: float64(w.Errors) / length})
	}
	return chart.Line{
		Title: "Throughput and errors over time", XLabel: "time since start (s)", YLabel: "requests per second", XUnit: " s", XSpan: p.span, YUnit: "/s",
		Series: []chart.Series{
			{Name: "sent", Points: sent, Dashed: true, Color: "#777777"},
			{Name: "successful", Points: ok, Color: "#009e73"},
			{Name: "errors", Points: errs, Color: "#d55e00"},
		},
		Markers: p.markers,
	}
}

// timeline is one sampler figure over time; a failed read is a gap, never a zero.
func (p plotter) timeline(get func(summary.Sample) float64, db bool) []chart.Point {
	ps := make([]chart.Point, 0, len(p.s.Timeline))
	for _, smp := range p.s.Timeline {
		y := get(smp)
		if (db && smp.DBQueryFailed) || (!db && smp.ScrapeFailed) {
			y = math.NaN()
		}
		ps = append(ps, chart.Point{X: secs(smp.OffsetMs), Y: y})
	}
	return ps
}

// server plots four charts, because goroutines, bytes, connections and queries share no scale.
func (p plotter) server() []chart.Line {
	tl := p.timeline
	return []chart.Line{
		{
			Title: "Server: goroutines and requests in flight", XLabel: "time since start (s)", YLabel: "count", XUnit: " s", XSpan: p.span,
			Series: []chart.Series{
				{Name: "goroutines", Points: tl(func(x summary.Sample) float64 { return x.Goroutines }, false)},
				{Name: "in flight", Points: tl(func(x summary.Sample) float64 { return x.InFlight }, false)},
			},
			Markers: p.markers, Height: 240,
		},
		{
			Title: "Server: heap in use", XLabel: "time since start (s)", YLabel: "heap", XUnit: " s", XSpan: p.span,
			Series:  []chart.Series{{Name: "heap alloc", Points: tl(func(x summary.Sample) float64 { return x.HeapBytes }, false)}},
			Markers: p.markers, YFormat: chart.Bytes, Height: 220,
		},
		{
			Title: "Server: connection pool", XLabel: "time since start (s)", YLabel: "connections", XUnit: " s", XSpan: p.span,
			Series: []chart.Series{
				{Name: "acquired", Points: tl(func(x summary.Sample) float64 { return x.PoolAcquired }, false)},
				{Name: "idle", Points: tl(func(x summary.Sample) float64 { return x.PoolIdle }, false), Color: "#009e73"},
				{Name: "total", Points: tl(func(x summary.Sample) float64 { return x.PoolTotal }, false), Dashed: true, Color: "#777777"},
			},
			Markers: p.markers, Height: 220,
		},
		{
			Title: "PostgreSQL: the server's queries (pg_stat_activity)", XLabel: "time since start (s)", YLabel: "queries", XUnit: " s", XSpan: p.span,
			Series: []chart.Series{
				{Name: "active", Points: tl(func(x summary.Sample) float64 { return x.DBActive }, true), Color: "#cc79a7"},
				{Name: "sleeping (bench delay)", Points: tl(func(x summary.Sample) float64 { return x.DBSleeping }, true), Dashed: true, Color: "#e69f00"},
			},
			Markers: p.markers, Height: 220,
		},
	}
}

// acceptQueue plots the API listener's accept queue and its limit over time (netsig), when sampled.
// A failed read is a gap; a closed listener reads 0 of 0.
func (p plotter) acceptQueue() (chart.Line, bool) {
	var queue, limit []chart.Point
	for _, smp := range p.s.Timeline {
		if smp.Net == nil {
			continue
		}
		q, l := smp.Net.AcceptQueue, smp.Net.AcceptLimit
		if smp.Net.Failed {
			q, l = math.NaN(), math.NaN()
		}
		queue = append(queue, chart.Point{X: secs(smp.OffsetMs), Y: q})
		limit = append(limit, chart.Point{X: secs(smp.OffsetMs), Y: l})
	}
	if len(queue) == 0 {
		return chart.Line{}, false
	}
	series := []chart.Series{{Name: "waiting to be accepted", Points: queue, Color: "#d55e00"}}
	if d := p.s.Deploy; d != nil && len(sockets(d.AcceptQueue)) > 1 {
		series = socketSeries(d.AcceptQueue)
	}
	title := "Kernel: the API listener's accept queue (sock_diag, as ss -lnt Recv-Q)"
	// A backlog of thousands drawn beside a queue of a few would flatten the queue to the axis.
	if peak, lim := maxY(queue), maxY(limit); peak >= lim/10 {
		series = append(series, chart.Series{Name: "limit (backlog)", Points: limit, Dashed: true, Color: "#777777"})
	} else {
		title += fmt.Sprintf(", limit %.0f", lim)
	}
	return chart.Line{
		Title: title, XLabel: "time since start (s)", YLabel: "connections", XUnit: " s", XSpan: p.span,
		Series: series, Markers: p.markers, Height: 220,
	}, true
}

// maxY is the largest value of pts, NaN (a failed reading) left out.
func maxY(pts []chart.Point) float64 {
	m := 0.0
	for _, pt := range pts {
		if !math.IsNaN(pt.Y) {
			m = max(m, pt.Y)
		}
	}
	return m
}

// sockets are the listeners of a deploy's queue readings, in the order they first appear.
func sockets(qs []summary.AcceptQueueSample) []string {
	var out []string
	for _, q := range qs {
		if !slices.Contains(out, q.Socket) {
			out = append(out, q.Socket)
		}
	}
	return out
}

// socketSeries draws each listener's queue on its own line (a reuseport switch has two), with a
// gap where a reading did not see it.
func socketSeries(qs []summary.AcceptQueueSample) []chart.Series {
	colors := []string{"#d55e00", "#0072b2", "#009e73", "#cc79a7"}
	var out []chart.Series
	for i, name := range sockets(qs) {
		var pts []chart.Point
		for _, q := range qs {
			if q.Socket == name {
				pts = append(pts, chart.Point{X: secs(q.OffsetMs), Y: float64(q.Queue)})
			}
		}
		out = append(out, chart.Series{Name: "waiting: " + name, Points: pts, Color: colors[i%len(colors)]})
	}
	return out
}

// contention plots, per window, the highest delay per run on a request's path (what the
// neighbour rule holds against its limit, the judged p99 times -max-neighbour-share, where slow
// requests overlapped it), a request path's run-queue delay and each role's mean delay per
// run, with the server's Go scheduling latency beside them.
func (p plotter) contention(c *summary.Contention, maxShare string) chart.Line {
	var worst, server, db, harness, path, sched []chart.Point
	for _, w := range c.Windows {
		x := secs(w.StartMs + 500)
		worst = append(worst, chart.Point{X: x, Y: slices.Max(w.PeakDelayPerRunMs[:])})
		path = append(path, chart.Point{X: x, Y: w.PathDelayMs})
		server = append(server, chart.Point{X: x, Y: w.DelayPerRunMs[0]})
		db = append(db, chart.Point{X: x, Y: w.DelayPerRunMs[1]})
		harness = append(harness, chart.Point{X: x, Y: w.DelayPerRunMs[2]})
		sched = append(sched, chart.Point{X: x, Y: w.SchedP99Ms})
	}
	series := []chart.Series{
		{Name: "worst on a request's path, per run (judged where slow requests met it)", Points: worst, Color: "#000000"},
		{Name: "a request's path", Points: path, Color: "#d55e00"},
		{Name: "server, per run", Points: server},
		{Name: "database, per run", Points: db, Color: "#cc79a7"},
		{Name: "harness, per run", Points: harness, Color: "#777777"},
	}
	if c.SchedLatency != nil {
		series = append(series, chart.Series{Name: "server Go scheduling latency p99", Points: sched, Dashed: true, Color: "#e69f00"})
	}
	var refs []chart.Ref
	if share, err := strconv.ParseFloat(maxShare, 64); err == nil && share > 0 && c.Neighbour.JudgedMs > 0 {
		refs = []chart.Ref{{Y: share * c.Neighbour.JudgedMs, Label: "neighbour limit " + ms(share*c.Neighbour.JudgedMs)}}
	}
	markers := slices.Clone(p.markers)
	if c.Neighbour.MovedBy == "slow" { // moved by the sends, it has no one moment to mark
		markers = append(markers, chart.Marker{X: secs(c.Neighbour.SlowAtMs), Label: "neighbour", Color: "#d55e00"})
	}
	return chart.Line{
		Title: "Run-queue delay: our threads waiting for a CPU", XLabel: "time since start (s)", YLabel: "run-queue delay (ms)",
		XUnit: " s", XSpan: p.span, YUnit: " ms", Series: series, Refs: refs, Markers: markers, Height: 240,
	}
}

// ramp plots p99 per step and achieved vs target rate, the capacity marked.
func (p plotter) ramp(rs *summary.RampStats) []chart.Line {
	var p99s, achieved, ideal []chart.Point
	// By rate: the refinements come after the step past the knee but belong below it.
	byRate := slices.Clone(rs.Steps)
	slices.SortStableFunc(byRate, func(a, b summary.RampStep) int { return cmp.Compare(a.Rate, b.Rate) })
	for _, st := range byRate {
		p99s = append(p99s, chart.Point{X: st.Rate, Y: st.P99Ms})
		achieved = append(achieved, chart.Point{X: st.Rate, Y: st.AchievedRate})
		ideal = append(ideal, chart.Point{X: st.Rate, Y: st.Rate})
	}
	var capMarker []chart.Marker
	if rs.CapacityRate > 0 {
		capMarker = []chart.Marker{{X: rs.CapacityRate, Label: "capacity " + rate(rs.CapacityRate), Color: "#009e73"}}
	}
	return []chart.Line{
		{
			Title: "Ramp: p99 per step", XLabel: "target rate (requests/s)", YLabel: "p99 latency (ms)", XUnit: "/s", YUnit: " ms",
			Series: []chart.Series{{Name: "p99", Points: p99s, Dots: true}}, Refs: p.refs, Markers: capMarker, Height: 240,
		},
		{
			Title: "Ramp: achieved vs target rate", XLabel: "target rate (requests/s)", YLabel: "requests/s", XUnit: "/s", YUnit: "/s",
			Series:  []chart.Series{{Name: "achieved", Points: achieved, Dots: true}, {Name: "target", Points: ideal, Dashed: true, Color: "#777777"}},
			Markers: capMarker, Height: 240,
		},
	}
}

// timeSpan is the time range (s) every time chart of a scenario shows, so that the client's
// and the server's charts line up: from 0 to the last window's end, sample or event.
func timeSpan(s summary.Scenario, lengths []float64) [2]float64 {
	end := 0.0
	for i, w := range s.Windows {
		end = math.Max(end, w.StartMs+lengths[i])
	}
	for _, x := range s.Timeline {
		end = math.Max(end, x.OffsetMs)
	}
	for _, e := range s.Events {
		end = math.Max(end, e.OffsetMs)
	}
	return [2]float64{0, end / 1000}
}

// windowLengths derives each window's length in ms from its neighbours' start times; windows
// are normally one second, which is the fallback for a lone window.
func windowLengths(ws []summary.Window) []float64 {
	ls := make([]float64, len(ws))
	for i, w := range ws {
		ls[i] = 1000
		if i+1 < len(ws) && ws[i+1].StartMs > w.StartMs {
			ls[i] = ws[i+1].StartMs - w.StartMs
		} else if i > 0 && w.StartMs > ws[i-1].StartMs {
			ls[i] = w.StartMs - ws[i-1].StartMs
		}
	}
	return ls
}

// sloRefIfNear keeps the SLO line only when the data reaches at least a third of it: a line far
// above the data would squash what it is compared with into the bottom few pixels. The caller
// names the SLO in the title when it is left off, so the comparison is never lost.
func sloRefIfNear(refs []chart.Ref, series ...[]chart.Point) []chart.Ref {
	if len(refs) == 0 {
		return nil
	}
	top := 0.0
	for _, ps := range series {
		for _, p := range ps {
			if !math.IsNaN(p.Y) && !math.IsInf(p.Y, 0) {
				top = math.Max(top, p.Y)
			}
		}
	}
	if top*3 < refs[0].Y {
		return nil
	}
	return refs
}

// sloNote is the title suffix for a chart whose SLO line was left off.
func sloNote(all, drawn []chart.Ref) string {
	if len(all) > 0 && len(drawn) == 0 {
		return " · " + all[0].Label + " off scale"
	}
	return ""
}

// eventColor marks the events that end or threaten a server in warm colours; others are grey.
func eventColor(name string) string {
	switch name {
	case summary.EventSigterm:
		return "#d55e00"
	case summary.EventReadyz503:
		return "#cc79a7"
	case summary.EventListenerClosed:
		return "#8a5a00"
	case summary.EventExit, summary.EventCrash:
		return "#b00020"
	case summary.EventCancelWave:
		return "#0072b2"
	default:
		return ""
	}
}

func eventMarkers(evs []summary.Event) []chart.Marker {
	ms := make([]chart.Marker, 0, len(evs))
	for _, e := range evs {
		ms = append(ms, chart.Marker{X: e.OffsetMs / 1000, Label: e.Name, Color: eventColor(e.Name)})
	}
	return ms
}
