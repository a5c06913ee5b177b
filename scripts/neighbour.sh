#!/usr/bin/env bash
# neighbour.sh NEIGHBOUR RUNS [loadtest run flags...]
#
# Runs steady RUNS times beside NEIGHBOUR and prints one line per run: verdict, judged p99 (ms),
# the rule's slow figure (the delay per run on the paths of two of the slowest requests, ms), its role, its limit (10 % of the p99), whether the rule moved and by which wait (slow or send), the others' CPUs
# in that second and how many of them ran niced, the send lateness p99 and its limit (ms), the CPUs our threads and others (niced left out) ran over the attack, the path delay and the worst quarter second's delay per run in the p99's
# window (ms, reported, not judged), the reasons (docs/harness.md). NEIGHBOUR: none, nice (one busy loop at nice 19) or two (two busy loops at
# normal priority). The loops are started here and stopped by their PID however the script
# ends. Run it under the heavy lock: flock /tmp/heavy.lock scripts/neighbour.sh two 5
# (docs/design/harness-evidence.md holds the table it makes).
set -euo pipefail

if (($# < 2)); then
	echo "usage: $0 none|nice|two RUNS [loadtest run flags...]" >&2
	exit 2
fi
kind=$1 runs=$2
shift 2
cd "$(dirname "$0")/.."

loops=()
stop_loops() { for pid in "${loops[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_loops EXIT
case $kind in
none) ;;
nice) sh -c 'while :; do :; done' & loops+=($!); renice -n 19 -p $! >/dev/null ;;
two) for _ in 1 2; do sh -c 'while :; do :; done' & loops+=($!); done ;;
*) echo "neighbour.sh: NEIGHBOUR is none, nice or two, not $kind" >&2; exit 2 ;;
esac

out=$(mktemp -d)
for i in $(seq "$runs"); do
	scripts/with-postgres.sh bin/loadtest run -scenarios steady -server-bin bin/server \
		-targets loadtest/internal/items/requests.http -held-targets loadtest/internal/items/held.http \
		-out "$out/$i" "$@" >/dev/null 2>&1 || true
	jq -r --arg kind "$kind" --arg i "$i" '.scenarios[0] as $s | $s.contention as $c |
		[$kind, $i, $s.verdict, ($s.latency_intended.p99_ms*100|round/100),
		 ($c.neighbour.slow_wait_ms*1000|round/1000), ($c.neighbour.slow_role // "-"), ($c.neighbour.limit_ms*1000|round/1000),
		 ($c.neighbour.moved), ($c.neighbour.moved_by // "-"), ($c.neighbour.slow_foreign_cpus*100|round/100), (($c.neighbour.slow_niced_cpus // 0)*100|round/100),
		 ($c.neighbour.send_wait_ms*100|round/100), ($c.neighbour.send_limit_ms*100|round/100),
		 ($c.neighbour.our_cpus*100|round/100), ($c.neighbour.competing_cpus*100|round/100),
		 ($c.neighbour.run_queue_delay_ms*1000|round/1000), (($c.neighbour.peak_delay_ms // 0)*1000|round/1000),
		 (($s.reasons // []) | join("; "))] | @tsv' "$out/$i"/2*/summary.json
done
[[ -n ${KEEP:-} ]] && echo "kept $out" >&2 || rm -rf "$out"
