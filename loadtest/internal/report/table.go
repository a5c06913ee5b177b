package report

import (
	"github.com/benchharness/benchharness/loadtest/internal/md"

	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/benchharness/benchharness/loadtest/internal/summary"

	"github.com/benchharness/benchharness/loadtest/internal/report/chart"
)

// Table writes the terminal verdict table printed at the end of `loadtest run`: the overall
// verdict and any PARTIAL/INTERRUPTED marking first, one aligned line per scenario with its
// verdict in the first column, then one line of reasons per scenario that did not pass, and the
// run folder. Plain text only: it also lands in CI logs that show escape codes literally.
func Table(w io.Writer, r summary.Run) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "bench run %s: %s\n", md.OneLine(orDash(r.ID)), runVerdict(r))
	if b := partialBanner(r); b != "" {
		fmt.Fprintf(bw, "!! %s\n", md.OneLine(b))
	}
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERDICT\tSCENARIO\tREQUESTS\tRATE got/want\tP50 act/int\tP99 act/int\tERRORS\tKEY FIGURE")
	for _, s := range r.Scenarios {
		if !scenarioRan(s) {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t%s\n", s.Verdict, md.OneLine(s.Name), keyFigure(s))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s / %s\t%s / %s\t%s / %s\t%s\t%s\n",
			s.Verdict, md.OneLine(s.Name), s.Requests,
			chart.Trim(s.AchievedRate, 1), rate(s.TargetRate),
			ms(s.Latency.P50), ms(s.LatencyIntended.P50),
			ms(s.Latency.P99), ms(s.LatencyIntended.P99),
			errorsCell(s), md.OneLine(keyFigure(s)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write verdict table: %w", err)
	}
	for _, s := range r.Scenarios {
		if s.Verdict == summary.Pass {
			continue
		}
		if rs := reasons(s); len(rs) > 0 {
			fmt.Fprintf(bw, "  %s %s: %s\n", s.Verdict, md.OneLine(s.Name), md.OneLine(strings.Join(rs, "; ")))
		}
	}
	fmt.Fprintf(bw, "run folder: %s\n", md.OneLine(runFolder(r)))
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write verdict table: %w", err)
	}
	return nil
}

// oneLine keeps a table row on one line and the terminal sane: a reason or name holding a
// newline, tab or escape sequence (input we do not control) would otherwise break the alignment
// or drive the terminal.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
