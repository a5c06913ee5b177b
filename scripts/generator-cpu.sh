#!/usr/bin/env bash
# generator-cpu.sh [RATE] [ROUNDS]
#
# The CPU (user + system) each generator spends per request at a fixed RATE (default 3000/s, a
# ramp's rate) against `bin/perf trivial`, in ROUNDS (3) rounds of 8 s, alternating: the
# harness's engine (`bin/perf attack`), the least a paced Go client does (`bin/perf floor`) and
# the vegeta CLI (.bin/vegeta, what scripts/perf.sh installs). make perf's P3g measures the same
# at half the engine's maximum, against wrk at its own (docs/perf.md). Run it under the heavy
# lock: flock /tmp/heavy.lock scripts/generator-cpu.sh 3000
set -euo pipefail
rate=${1:-3000} rounds=${2:-3}
[[ $rate =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ ]] || { echo "generator-cpu: RATE and ROUNDS are positive integers" >&2; exit 2; }
cd "$(dirname "$0")/.."
for tool in bin/perf .bin/vegeta /usr/bin/time; do
	[[ -x $tool ]] || { echo "generator-cpu: $tool is missing (make build, scripts/perf.sh, apt-get install time)" >&2; exit 2; }
done

dir=$(mktemp -d)
bin/perf trivial -addr 127.0.0.1:0 >"$dir/addr" 2>/dev/null &
trivial=$!
trap 'kill "$trivial" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 50); do [[ -s $dir/addr ]] && break; sleep 0.1; done
url="http://$(head -1 "$dir/addr")/"
echo "GET $url" >"$dir/targets"

# cpu CMD...: CPU seconds CMD used.
cpu() { /usr/bin/time -f '%U %S' -o "$dir/time" "$@" >/dev/null 2>&1; awk '{print $1 + $2}' "$dir/time"; }
per() { awk -v s="$1" -v r="$rate" 'BEGIN {printf "%.0f", s * 1e6 / (r * 8)}'; }
echo "rate ${rate}/s, CPU µs per request: harness floor vegeta"
for i in $(seq "$rounds"); do
	h=$(cpu bin/perf attack -url "$url" -rate "$rate" -duration 8s -workers 32)
	f=$(cpu bin/perf floor -url "$url" -rate "$rate" -duration 8s -workers 32)
	v=$(cpu .bin/vegeta attack -targets="$dir/targets" -rate="$rate" -workers=32 -max-workers=32 -duration=8s -output=/dev/null)
	echo "round $i: $(per "$h") $(per "$f") $(per "$v")"
done
