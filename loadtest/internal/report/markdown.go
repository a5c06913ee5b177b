package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/benchharness/benchharness/loadtest/internal/md"
	"github.com/benchharness/benchharness/loadtest/internal/report/chart"
	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

// Markdown writes report.md (GitHub-flavoured Markdown, fit for a PR comment or
// $GITHUB_STEP_SUMMARY): the overall verdict, a PARTIAL/INTERRUPTED banner with its reason, the
// environment, a verdict table, then per scenario its checks, reasons, status codes and error
// classes, the cancel/shutdown/ramp figures, the slowest and lost requests with trace links and
// the top CPU functions. Every piece of input text is escaped, so a pipe or newline in a reason
// cannot break a table and a <script> in one stays text.
func Markdown(w io.Writer, r summary.Run) error {
	m := &mdWriter{w: bufio.NewWriter(w)}
	m.run(r)
	if err := m.w.Flush(); err != nil {
		return fmt.Errorf("write markdown report: %w", err)
	}
	return nil
}

type mdWriter struct{ w *bufio.Writer }

func (m *mdWriter) p(format string, args ...any) { fmt.Fprintf(m.w, format, args...) }

// row writes one table row; cells are already escaped.
func (m *mdWriter) row(cells ...string) { m.p("| %s |\n", strings.Join(cells, " | ")) }

// header writes a table header; align is one of "l"/"r" per column.
func (m *mdWriter) header(align string, cells ...string) {
	m.row(cells...)
	seps := make([]string, len(cells))
	for i := range cells {
		seps[i] = "---"
		if i < len(align) && align[i] == 'r' {
			seps[i] = "---:"
		}
	}
	m.row(seps...)
}

func (m *mdWriter) run(r summary.Run) {
	v := runVerdict(r)
	m.p("# %s Bench run %s: **%s**\n\n", verdictIcon(v), md.Code(orDash(r.ID)), v)
	if b := partialBanner(r); b != "" {
		m.p("> [!WARNING]\n> **%s**\n\n", md.Text(b))
	}
	m.env(r)
	m.verdictTable(r)
	for _, s := range r.Scenarios {
		m.scenario(r, s)
	}
}

func (m *mdWriter) env(r summary.Run) {
	e, st := r.Env, r.Settings
	parts := []string{
		"commit " + md.Code(shortCommit(e)),
		md.Text(orDash(e.GoVersion)),
		md.Text(fmt.Sprintf("%s/%s", orDash(e.OS), orDash(e.Arch))),
		fmt.Sprintf("%d CPUs", e.NumCPU),
		"target " + md.Code(orDash(e.Target)),
	}
	if e.ManagedBy != "" {
		parts[len(parts)-1] += " (" + md.Text(e.ManagedBy) + ")"
	}
	if e.ServerInfo != "" {
		parts = append(parts, "server "+md.Code(e.ServerInfo))
	}
	if len(e.Workers) > 0 {
		parts = append(parts, fmt.Sprintf("load from %d workers", len(e.Workers)))
	}
	parts = append(parts, "profile "+md.Code(orDash(st.Profile)))
	m.p("%s  \n", strings.Join(parts, " · "))
	settings := []string{fmt.Sprintf("SLO p99 ≤ %s", ms(st.SLOP99Ms)), "max errors " + pct(st.MaxErrorRate), fmt.Sprintf("seed %d", st.Seed), "traces sampled " + pct(st.TraceSample)}
	if !r.StartedAt.IsZero() {
		when := "started " + r.StartedAt.UTC().Format("2006-01-02 15:04:05Z")
		if d := elapsed(r); d != "" {
			when += ", took " + d
		}
		settings = append(settings, when)
	}
	m.p("%s\n\n", md.Text(strings.Join(settings, " · ")))
}

func (m *mdWriter) verdictTable(r summary.Run) {
	if len(r.Scenarios) == 0 {
		m.p("_No scenario ran._\n\n")
		return
	}
	m.header("llrrrrrl", "Scenario", "Verdict", "Requests", "Rate achieved / target", "p50 actual / intended", "p99 actual / intended", "Errors", "Key figure")
	for _, s := range r.Scenarios {
		name := fmt.Sprintf("[%s](#%s)", md.Text(s.Name), anchor(s.Name+" "+string(s.Verdict)))
		verdict := verdictIcon(s.Verdict) + " **" + md.Text(string(s.Verdict)) + "**"
		if !scenarioRan(s) {
			m.row(name, verdict, "–", "–", "–", "–", "–", md.Text(keyFigure(s)))
			continue
		}
		m.row(name, verdict, fmt.Sprint(s.Requests),
			chart.Trim(s.AchievedRate, 1)+" / "+rate(s.TargetRate),
			ms(s.Latency.P50)+" / "+ms(s.LatencyIntended.P50),
			ms(s.Latency.P99)+" / "+ms(s.LatencyIntended.P99),
			errorsCell(s), md.Text(keyFigure(s)))
	}
	m.p("\n")
}

func (m *mdWriter) scenario(r summary.Run, s summary.Scenario) {
	m.p("## %s %s: %s\n\n", verdictIcon(s.Verdict), md.Text(s.Name), s.Verdict)
	if s.Description != "" {
		m.p("%s\n\n", md.Text(s.Description))
	}
	if rs := reasons(s); len(rs) > 0 {
		m.p("**Reasons**\n\n")
		for _, x := range rs {
			m.p("- %s\n", md.Text(x))
		}
		m.p("\n")
	}
	if len(s.Checks) > 0 {
		m.header("llll", "Check", "Want", "Got", "Pass")
		for _, c := range s.Checks {
			pass := "✅ yes"
			switch {
			case c.NotMeasured:
				pass = "– not measured"
			case !c.Pass && c.Kind == summary.Validity:
				pass = "⚠️ no (invalidates)"
			case !c.Pass:
				pass = "❌ no"
			}
			m.row(md.Text(c.Name), md.Text(c.Want), md.Text(c.Got), pass)
		}
		m.p("\n")
	}
	if !scenarioRan(s) {
		return
	}
	m.p("%s\n\n", md.Text(fmt.Sprintf("%d requests over %s (warm-up %s, not counted) · achieved %s of %s target · throughput %s · success %s",
		s.Requests, ms(s.DurationMs), ms(s.WarmupMs), rate(s.AchievedRate), rate(s.TargetRate), rate(s.Throughput), pct(s.SuccessRatio))))
	m.latency(s)
	m.counts(s)
	m.workers(s.Workers)
	if s.Cancel != nil {
		m.cancel(s.Cancel)
	}
	if s.Shutdown != nil {
		m.shutdown(s)
	}
	if s.Deploy != nil {
		m.deploy(s)
	}
	if s.Ramp != nil {
		m.ramp(r, s.Ramp)
	}
	if s.Soak != nil {
		m.soak(s.Soak)
	}
	m.server(s.Server)
	m.requests("Lost requests", s.Lost, lostCount(s))
	m.requests("Slowest requests", s.Slowest, int64(len(s.Slowest)))
	m.topCPU(s.TopCPU)
}

func (m *mdWriter) latency(s summary.Scenario) {
	m.header("lrrrrrrrr", "Latency", "min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max")
	for _, l := range []struct {
		name string
		l    summary.Latencies
	}{{"actual (from send)", s.Latency}, {"intended (from schedule)", s.LatencyIntended}, {"send lateness", s.SendLateness}} {
		m.row(l.name, ms(l.l.Min), ms(l.l.Mean), ms(l.l.P50), ms(l.l.P90), ms(l.l.P95), ms(l.l.P99), ms(l.l.P999), ms(l.l.Max))
	}
	m.p("\n")
}

// workers is the per-worker table of a distributed run (nothing otherwise).
func (m *mdWriter) workers(ws []summary.Worker) {
	if len(ws) == 0 {
		return
	}
	m.p("### Workers\n\n")
	m.header("lrrrrrrrl", workerColumns...)
	for _, w := range ws {
		cells, alarm := workerCells(w)
		for i := range cells {
			cells[i] = md.Text(cells[i])
		}
		if alarm {
			cells[len(cells)-1] = "**" + cells[len(cells)-1] + "**"
		}
		m.row(cells...)
	}
	m.p("\n")
}

func (m *mdWriter) counts(s summary.Scenario) {
	var codes, classes []string
	for _, k := range sortedCounts(s.StatusCodes) {
		codes = append(codes, fmt.Sprintf("%s × %d", md.Code(statusName(k)), s.StatusCodes[k]))
	}
	for _, k := range sortedCounts(s.ErrorClasses) {
		classes = append(classes, fmt.Sprintf("%s × %d", md.Code(k), s.ErrorClasses[k]))
	}
	if len(codes) > 0 {
		m.p("Status codes: %s  \n", strings.Join(codes, " · "))
	}
	if len(classes) > 0 {
		m.p("Error classes: %s\n", strings.Join(classes, " · "))
	} else {
		m.p("Error classes: none\n")
	}
	m.p("\n")
}

func (m *mdWriter) cancel(c *summary.CancelStats) {
	m.p("### Client cancels\n\n")
	m.header("lr", "Figure", "Value")
	m.row("cancel share / delay / client timeout", fmt.Sprintf("%s / %s / %s", pct(c.CancelShare), ms(c.DelayMs), ms(c.ClientTimeoutMs)))
	m.row("cancels sent by the client", fmt.Sprint(c.CancelsSent))
	m.row("cancels seen by the server", fmt.Sprint(c.CancelsSeen))
	m.row("cleanup (last cancel → no cancelled query)", msOrNever(c.CleanupMs))
	m.row("cancelled queries still running after settle", fmt.Sprint(c.StillRunning))
	m.row("pool acquired after settle", chart.Trim(c.PoolAcquiredAfter, 1))
	m.row("goroutines leaked (after − baseline)", chart.Trim(c.GoroutinesLeaked, 1))
	m.row("p99 of non-cancelled requests (from the intended send)", ms(c.NonCancelledP99Ms))
	m.p("\n")
}

func (m *mdWriter) shutdown(s summary.Scenario) {
	sd := s.Shutdown
	m.p("### Shutdown\n\n")
	m.header("lr", "Figure", "Value")
	m.row("SIGTERM at", ms(sd.SigtermOffsetMs))
	m.row("/readyz → 503 after SIGTERM", msOrNever(sd.ReadyzFlipMs))
	m.row("listener closed after SIGTERM", msOrNever(sd.ListenerClosedMs))
	m.row(drainLabel(sd), fmt.Sprintf("%s of %s allowed", msOrNever(sd.DrainMs), ms(sd.DrainTimeoutMs)))
	exit := exitText(sd)
	if sd.Forced {
		exit += " **(forced: stragglers closed)**"
	}
	m.row("exit code", exit)
	m.row("longest request in flight at SIGTERM", ms(sd.LongestInFlightMs))
	m.row("writes acknowledged (201) / found in PostgreSQL", fmt.Sprintf("%d / %d", sd.WritesAcked, sd.WritesFound))
	if len(sd.MissingIDs) > 0 {
		ids := make([]string, 0, len(sd.MissingIDs))
		for i, id := range sd.MissingIDs {
			if i == 50 {
				ids = append(ids, fmt.Sprintf("… %d more", len(sd.MissingIDs)-50))
				break
			}
			ids = append(ids, fmt.Sprint(id))
		}
		m.row("**missing ids**", strings.Join(ids, ", "))
	}
	m.p("\n")
	if len(sd.Classes) > 0 {
		m.header("lr", "Result class", "Requests")
		for _, k := range shutdownClasses(sd.Classes) {
			name := md.Text(k)
			if k == "lost" && sd.Classes[k] > 0 {
				name = "**lost**"
			}
			m.row(name, fmt.Sprint(sd.Classes[k]))
		}
		m.p("\n")
	}
}

func (m *mdWriter) ramp(r summary.Run, rs *summary.RampStats) {
	m.p("### Ramp\n\n")
	if rs.CapacityRate > 0 {
		m.p("Capacity: **%s** (highest rate whose p99 from the intended send time stayed within the SLO of %s)\n\n", rate(rs.CapacityRate), ms(r.Settings.SLOP99Ms))
	} else {
		m.p("Capacity: **no rate met the SLO** of %s\n\n", ms(r.Settings.SLOP99Ms))
	}
	if rs.StopReason != "" {
		m.p("Stopped by the %s: %s\n\n", md.Text(rs.Limit), md.Text(rs.StopReason))
	}
	if len(rs.Steps) == 0 {
		return
	}
	m.header("rrrrrl", "Target rate", "Achieved", "p99 act / int", "Errors", "Server CPU µs/req (harness)", "Within SLO")
	for _, st := range rs.Steps {
		ok := "✅ yes"
		if !st.WithinSLO {
			ok = "❌ no"
		}
		m.row(stepLabel(st), rate(st.AchievedRate), ms(st.P99Ms)+" / "+ms(st.P99IntendedMs), pct(st.ErrorRatio), stepCPU(st), ok)
	}
	m.p("\n")
}

// stepLabel is a ramp step's rate and what kind of step it was.
func stepLabel(st summary.RampStep) string {
	label := rate(st.Rate)
	switch {
	case st.Refined:
		label += " (refining)"
	case st.Retried:
		label += " (tried again)"
	case st.Retry:
		label += " (second try)"
	}
	if st.CPUHold {
		label += " (held for CPU)"
	}
	return label
}

// stepCPU is a ramp step's server CPU per request and the harness's, "—" when not measured.
func stepCPU(st summary.RampStep) string {
	if st.CPUPerRequestUs <= 0 {
		return "—"
	}
	return chart.Trim(st.CPUPerRequestUs, 0) + " (" + chart.Trim(st.HarnessCPUPerRequestUs, 0) + ")"
}

func (m *mdWriter) server(sv summary.ServerStats) {
	if sv == (summary.ServerStats{}) {
		return
	}
	pool := chart.Trim(sv.PoolAcquiredPeak, 0)
	if sv.PoolMaxConns > 0 {
		pool += " of " + chart.Trim(sv.PoolMaxConns, 0)
	}
	var cpu string
	if sv.CPUPerRequestUs > 0 {
		cpu = " · CPU " + chart.Trim(sv.CPUPerRequestUs, 0) + " µs per request (the harness's " + chart.Trim(sv.HarnessCPUPerRequestUs, 0) + ")"
	}
	m.p("Server: goroutines %s → peak %s → %s after · heap peak %s · pool acquired peak %s · DB active peak %s · settle %s%s\n\n",
		chart.Trim(sv.GoroutinesBaseline, 0), chart.Trim(sv.GoroutinesPeak, 0), chart.Trim(sv.GoroutinesAfter, 0),
		bytesText(sv.HeapPeakBytes), pool, chart.Trim(sv.DBActivePeak, 0), msOrNever(sv.SettleMs), cpu)
}

// mdMaxRequests caps the request tables: a PR comment holds at most 65536 characters, and
// report.html and summary.json list them all.
const mdMaxRequests = 50

func (m *mdWriter) requests(title string, qs []summary.Request, total int64) {
	if len(qs) == 0 {
		return
	}
	total = max(total, int64(len(qs)))
	shown := qs[:min(len(qs), mdMaxRequests)]
	if total > int64(len(shown)) {
		m.p("### %s (%d of %d listed)\n\n", title, len(shown), total)
	} else {
		m.p("### %s (%d)\n\n", title, len(shown))
	}
	m.header("rrllrrll", "#", "At", "Method", "URL", "Code", "Latency", "Class / error", "Trace")
	for i, q := range shown {
		m.row(fmt.Sprint(i+1), ms(q.OffsetMs), md.Text(q.Method), md.Code(displayURL(q.URL)), fmt.Sprint(q.Code), ms(q.LatencyMs), md.Text(requestError(q)), mdTrace(q))
	}
	m.p("\n")
}

// mdTrace is a link to the trace when the runner gave a URL (only for sampled traces with a
// Jaeger URL set), the plain id otherwise.
func mdTrace(q summary.Request) string {
	if q.TraceID == "" {
		return "–"
	}
	if u := traceLink(q); u != "" {
		return fmt.Sprintf("[%s](%s)", md.Code(q.TraceID), md.LinkDest(u))
	}
	id := md.Code(q.TraceID)
	switch {
	case q.TraceFound != nil && !*q.TraceFound:
		id += " (not in Jaeger)"
	case !q.Sampled:
		id += " (not sampled)"
	}
	return id
}

func (m *mdWriter) topCPU(fs []summary.Function) {
	if len(fs) == 0 {
		return
	}
	m.p("### Top CPU functions\n\n")
	m.header("lrrrr", "Function", "Flat", "Flat %", "Cum", "Cum %")
	for _, f := range fs {
		m.row(md.Code(f.Name), ms(f.FlatMs), chart.Trim(f.FlatPct, 1)+"%", ms(f.CumMs), chart.Trim(f.CumPct, 1)+"%")
	}
	m.p("\n")
}

func verdictIcon(v summary.Verdict) string {
	switch v {
	case summary.Pass:
		return "✅"
	case summary.Fail:
		return "❌"
	case summary.Invalid:
		return "⚠️"
	case summary.Skipped:
		return "⏭️"
	case summary.Interrupted:
		return "⛔"
	default:
		return "❔"
	}
}

// bytesText formats bytes as the heap chart's axis does.
func bytesText(v float64) string { return chart.Bytes(v) }

// anchor is the heading id GitHub generates for "## <icon> name: VERDICT" given "name VERDICT":
// lower case, spaces to dashes, punctuation and the icon dropped (the space after the icon stays
// as a leading dash). Used for the verdict table's links to each section.
func anchor(heading string) string {
	var b strings.Builder
	b.WriteString("-") // the icon is dropped, its following space becomes a dash
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func (m *mdWriter) soak(st *summary.SoakStats) {
	m.p("### Soak trends\n\n%s\n\n", md.Text(st.Method))
	m.header("llrrrll", soakColumns...)
	for _, row := range soakRows(st) {
		for i := range row {
			row[i] = md.Text(row[i])
		}
		m.row(row...)
	}
	m.p("\n")
}
