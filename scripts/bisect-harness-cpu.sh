#!/usr/bin/env bash
# bisect-harness-cpu.sh: a `git bisect run` step that judges a commit by the harness's own CPU per
# request in two quick steady runs: good (0) when the smaller is under LIMIT_US (1900), bad (1)
# over it, skip (125) when the commit cannot be built or gives no figure.
#
#   git bisect start --first-parent BAD GOOD && git bisect run scripts/bisect-harness-cpu.sh
#
# Copy it out of the tree first (bisect checks out commits that do not have it):
#   cp scripts/bisect-harness-cpu.sh /tmp/ && git bisect run /tmp/bisect-harness-cpu.sh
# Each commit's figures are appended to $TMPDIR/bisect-harness-cpu.log.
set -uo pipefail
root=$(git rev-parse --show-toplevel) || exit 125
cd "$root" || exit 125
limit=${LIMIT_US:-1900}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bisect-harness-cpu.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log=${TMPDIR:-/tmp}/bisect-harness-cpu.log
c=$(git rev-parse --short HEAD)
go build -o "$tmp/server" ./server >"$tmp/build.log" 2>&1 || exit 125
go build -o "$tmp/loadtest" ./loadtest >>"$tmp/build.log" 2>&1 || exit 125
vals=()
for seed in 1 2; do
	scripts/with-postgres.sh "$tmp/loadtest" run -profile quick -scenarios steady -server-bin "$tmp/server" \
		-seed "$seed" -out "$tmp/out" >"$tmp/run.log" 2>&1
	v=$(jq -r '.scenarios[0].server.harness_cpu_per_request_us // empty' "$(readlink -f "$tmp/out/latest")/summary.json" 2>/dev/null)
	[[ -n "$v" ]] || { echo "$c: no figure" >>"$log"; exit 125; }
	vals+=("$v")
done
echo "$c ${vals[*]}" >>"$log"
min=$(printf '%s\n' "${vals[@]}" | sort -n | head -1)
awk -v m="$min" -v l="$limit" 'BEGIN { exit !(m < l) }'
