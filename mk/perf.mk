# Performance against the limits and the peers: make perf, make perf-p1b. See docs/perf.md.
.PHONY: perf perf-smoke perf-p1b

## perf: measure P1–P5 (≈ 10 minutes), write perf-results/<UTC time>/perf.md + perf.json and
## print the table. Extra flags of `perf run` in PERF_ARGS (e.g. PERF_ARGS="-only P3 -rounds 3").
perf:
	scripts/perf.sh $(PERF_ARGS)

## perf-smoke: the same in short rounds (well under 2 minutes, for CI): fails when a figure is
## not produced, never on a target.
perf-smoke:
	scripts/perf.sh --smoke $(PERF_ARGS)

## perf-p1b: why PostgreSQL spends more CPU per request on the server's query than on pgbench's
## (protocol, planning, arrival rate, profile; ≈ 4 minutes; docs/perf.md, P1b).
perf-p1b:
	scripts/perf-p1b.sh
