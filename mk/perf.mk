# Performance against the limits and the peers (issue #6). See docs/perf.md.
.PHONY: perf perf-smoke

## perf: measure P1–P4 (≈ 10 minutes), write perf-results/<UTC time>/perf.md + perf.json and
## print the table. Extra flags of `perf run` in PERF_ARGS (e.g. PERF_ARGS="-only P3 -rounds 3").
perf:
	scripts/perf.sh $(PERF_ARGS)

## perf-smoke: the same in short rounds (well under 2 minutes, for CI): fails when a figure is
## not produced, never on a target.
perf-smoke:
	scripts/perf.sh --smoke $(PERF_ARGS)
