#!/usr/bin/env bash
# fault-matrix.sh N: the diagnosis's fault matrix, each fault N times (default 10) on the real
# server and a throwaway PostgreSQL (scripts/with-postgres.sh), then the table fault × cause
# named, out of N. It is TestFaultMatrix with FAULT_MATRIX_RUNS=N: it fails when a fault's cause
# is named in fewer than 9 runs of 10, or when the healthy server fails or names anything.
# A heavy run: take the machine's lock, e.g. `flock /tmp/heavy.lock scripts/fault-matrix.sh 10`
# (about 7 s per run, 25 s for the neighbour row: N=10 takes ~17 minutes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

runs=${1:-10}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "fault-matrix: N must be a positive integer, got '$runs'" >&2; exit 2; }

log=$(mktemp "${TMPDIR:-/tmp}/fault-matrix.XXXXXX")
trap 'rm -f "$log"' EXIT
status=0
FAULT_MATRIX_RUNS=$runs scripts/with-postgres.sh go test ./loadtest/internal/scenario -run '^TestFaultMatrix$' \
	-count=1 -v -timeout "$((runs * 150 + 120))s" >"$log" 2>&1 || status=$?
# The table, then each failed row's reason; the whole log only when the test did not get as far.
grep -E '^(fault matrix:|\|)' "$log" || { cat "$log"; exit "${status:-1}"; }
grep -E '^\s+diagnosis_test.go:[0-9]+: .*(named in|want PASS)' "$log" || true
exit "$status"
