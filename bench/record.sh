#!/usr/bin/env bash
# record.sh: record real quick-profile runs of this commit, with and without injected faults, as
# the data that docs/design/compare.md's false-alarm and detection figures are computed from.
#
#   bench/record.sh                # ROUNDS=8: 16 unchanged runs + 8 of each fault, ~55 min
#   VARIANTS="aa cpu-60us aa" ROUNDS=4 RECORD_OUT=bench/recordings/<folder> bench/record.sh
#                                  # more runs of some variants into an existing recording
#   VARIANTS=cpu-2ms ROUNDS=4 RECORD_OUT=bench/recordings/<folder> bench/record.sh
#                                  # the runs the profile-diff tests read
#   for r in 1 2 3 4 5 6 7 8; do ROUND_FROM=$r ROUNDS=$r RECORD_OUT=<folder> bench/record.sh; done
#                                  # one round at a time, to let other work run between rounds
#
# Runs are sequential (the machine is shared; parallel runs would measure each other) and
# interleaved round by round, so that a drift through the session falls on every variant alike.
# Each run keeps only what compare reads: summary.json without its timeline, slowest requests and
# events (gzipped, ~4 KB), and the steady scenario's CPU profile (~3 KB), in
#   bench/recordings/<commit>/<variant>/<run id>/
# beside a MANIFEST naming the commit, the variants' server environment and this command.
#
# Settings (environment): ROUNDS (8), ROUND_FROM (1: the first round's number, its seed),
# RECORD_OUT (bench/recordings/<short commit>), VARIANTS (space-separated names from the table
# below; default all, in that order within a round).
set -euo pipefail

root=$(git rev-parse --show-toplevel)
cd "$root"

declare -A env_of=(
	[aa]=""
	[latency-5ms]="BENCH_EXTRA_LATENCY=5ms"
	# The server costs ~215 µs of CPU per request at the ramp's 3200 req/s on this machine (its
	# steps' cpu_per_request_us); 60 µs measured +25 % there (4f208d5c0a35). At the knee
	# (~5000 req/s) a request costs the 2 cores the server, PostgreSQL and the generator share
	# ~400 µs: 120 µs more took 26 % off the capacity (docs/design/compare.md has the figures).
	[cpu-60us]="BENCH_EXTRA_CPU=60us"
	[leak-goroutine]="BENCH_FAULTS=leak-goroutine"
	[capacity-drop]="BENCH_EXTRA_CPU=120us"
	# ~30 MiB/h at 100 req/s: what a 20-minute soak catches; a single quick run must not see it.
	[trickle-leak]="BENCH_FAULTS=trickle-leak"
	# Big enough to show in steady's CPU profile (2 s at 50 req/s: 100 samples of 10 ms, of
	# which a 50 µs burn would be 1): what the profile-diff tests read. Not in the default order.
	[cpu-2ms]="BENCH_EXTRA_CPU=2ms"
)
# Two unchanged runs a round: the A/A figure needs ≥ 16 of them.
order=(aa latency-5ms cpu-60us aa leak-goroutine capacity-drop trickle-leak)
if [[ -n "${VARIANTS:-}" ]]; then
	read -r -a order <<<"$VARIANTS"
fi

if [[ "${1:-}" == "__rounds" ]]; then
	out=$2 tmp=$3
	for ((r = ${ROUND_FROM:-1}; r <= ${ROUNDS:-8}; r++)); do
		for v in "${order[@]}"; do
			args=()
			for kv in ${env_of[$v]}; do
				args+=(-server-env "$kv")
			done
			rc=0
			timeout --signal=INT --kill-after=30s 10m bin/loadtest run -profile quick -server-bin bin/server \
				-seed "$r" -out "$tmp/$v" "${args[@]}" >"$tmp/last.log" 2>&1 || rc=$?
			run=$(readlink -f "$tmp/$v/latest")
			id=$(basename "$run")
			verdicts=$(jq -r '[.scenarios[] | .name + "=" + .verdict] | join(" ")' "$run/summary.json")
			echo "record: round $r $v $id exit $rc: $verdicts" | tee -a "$out/MANIFEST" >&2
			mkdir -p "$out/$v/$id"
			jq -c '.scenarios |= map(del(.timeline, .slowest, .lost, .events))' "$run/summary.json" |
				gzip -9n >"$out/$v/$id/summary.json.gz"
			[[ -f "$run/steady.cpu.pprof" ]] && cp "$run/steady.cpu.pprof" "$out/$v/$id/"
			rm -rf "$run"
		done
	done
	exit 0
fi

command -v jq >/dev/null || { echo "record: jq is not on PATH" >&2; exit 2; }
commit=$(git rev-parse HEAD)
out=${RECORD_OUT:-bench/recordings/${commit:0:12}}
mkdir -p "$out"
out=$(cd "$out" && pwd)
make --no-print-directory build >&2
{
	echo "commit $commit$(git diff --quiet HEAD -- || echo ' (dirty)')"
	echo "recorded $(date -u +%Y-%m-%dT%H:%M:%SZ) by: ${ROUND_FROM:+ROUND_FROM=$ROUND_FROM }ROUNDS=${ROUNDS:-8}${VARIANTS:+ VARIANTS=\"$VARIANTS\"} bench/record.sh"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
	for v in "${order[@]}"; do
		echo "variant $v: ${env_of[$v]:-(unchanged server)}"
	done
} >>"$out/MANIFEST"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/record.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
scripts/with-postgres.sh "$0" __rounds "$out" "$tmp"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/MANIFEST"
echo "record: runs in $out" >&2
