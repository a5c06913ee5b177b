// Package report renders a bench run's summary (loadtest/internal/summary.Run) for people: the
// verdict table printed by `loadtest run`, report.md for a PR comment or CI job summary, and
// report.html, one self-contained file with plots.
//
// Every writer reads only the summary, so `loadtest report DIR` re-renders a run folder exactly.
package report
