#!/usr/bin/env bash
# fake-history.sh RECORDING OUT: real recorded runs posing as 18 commits an hour apart, in a CI
# artifact layout that `loadtest history` reads: 6 unchanged (aa), 6 with +5 ms per request
# (latency-5ms), then 6 with the latency gone and 60 µs of CPU per request added (cpu-60us).
#
#   bench/fake-history.sh bench/recordings/9546609624af /tmp/hist
#   bin/loadtest history -out /tmp/hist/out /tmp/hist/store
#
# The runs are real; only their commit, dirty flag and commit time are rewritten.
set -euo pipefail
if [[ $# -ne 2 ]]; then
	echo "usage: bench/fake-history.sh RECORDING OUT" >&2
	exit 2
fi
command -v jq >/dev/null || { echo "fake-history: jq is not on PATH" >&2; exit 2; }
rec=$1 out=$2
rm -rf "$out"
mkdir -p "$out/store"
i=0
for v in aa latency-5ms cpu-60us; do
	for d in $(ls -d "$rec/$v"/2* | head -6); do
		c=$(printf '%02dc0ffee%033x' $i $i)
		t=$(date -u -d "2026-11-01T00:00:00Z + $i hour" +%Y-%m-%dT%H:%M:%SZ)
		mkdir -p "$out/store/artifact-$c/$(basename "$d")"
		zcat "$d/summary.json.gz" |
			jq --arg c "$c" --arg t "$t" '.env.commit=$c | .env.dirty=false | .env.commit_time=$t' \
				>"$out/store/artifact-$c/$(basename "$d")/summary.json"
		i=$((i + 1))
	done
done
echo "fake-history: 18 commits in $out/store" >&2
