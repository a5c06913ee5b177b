#!/usr/bin/env bash
# regress.sh: did my change make the server slower?
#
# Builds bin/server and bin/loadtest from the working tree and the server from BASE (a commit) in
# a temporary git worktree, runs the bench on both in alternating rounds on one throwaway
# PostgreSQL, then runs `loadtest compare` on the two sets of runs. Exit code is compare's:
# 0 no significant regression, 1 a significant regression or a correctness failure in the
# working tree's runs, 2 bad input, set-up failure, or cannot judge (runs still INVALID after
# REGRESS_INVALID_RETRIES re-runs, or INCONCLUSIVE: too few ROUNDS for any metric to see its
# limit, or for one with require_power in the thresholds). The code is also written to
# <out>/exit-code.
#
# This script is the entry point for CI: `make regress` passes its code through only when
# regress is make's only goal (the root Makefile's "Exit codes"), so a caller that must tell a
# regression (1) from a broken bench (2) runs scripts/regress.sh directly or reads
# <out>/exit-code.
#
# Settings (environment, all optional):
#   BASE                commit to compare against; default `git merge-base HEAD origin/main`,
#                       else HEAD~1, else HEAD (an A/A comparison)
#   ROUNDS              rounds; each runs base and current once (default 4: per-run figures such
#                       as drain time need ≥ 4 runs a side before the U test can reach p < 0.05)
#   REGRESS_PROFILE     loadtest run -profile (default quick)
#   REGRESS_SCENARIOS   loadtest run -scenarios (default: the profile's scenarios)
#   REGRESS_SERVER_ENV  extra server environment for the CURRENT side only, e.g.
#                       BENCH_EXTRA_LATENCY=5ms (several: space-separated K=V); each is passed as
#                       one `-server-env K=V` flag
#   REGRESS_HARNESS     current (default): the working tree's harness measures both sides, so a
#                       change to the harness cannot pose as a server regression; base: each side
#                       uses its own commit's harness
#   REGRESS_OUT         output folder (default bench-results/regress-<UTC time>); holds base/,
#                       current/ (run folders), compare.md and compare.json
#   THRESHOLDS          thresholds file (default bench/thresholds.json)
#   REGRESS_RUN_ARGS    extra flags for every `loadtest run`, e.g. "-duration 5s"
#   REGRESS_RUN_TIMEOUT limit on one `loadtest run` (default 15m): a hung run must not hang CI;
#                       it gets SIGINT first (the harness then writes what it has), SIGKILL 30 s later
#   REGRESS_INVALID_RETRIES  re-runs of a round in which a run had an INVALID scenario (the
#                       generator fell behind, e.g. a loaded machine), per round (default 2); the
#                       INVALID runs move to <out>/invalid/. Still INVALID after that: compare
#                       says "cannot judge" and the exit code is 2
#
# Rounds alternate their order (A B, B A, A B, ...): a drift that grows steadily through the
# session (a warming cache, a growing table, a throttling CPU) then falls on both sides alike.
set -euo pipefail

root=$(git rev-parse --show-toplevel)
cd "$root"

die() {
	echo "regress: $*" >&2
	exit 2
}

# The inner stage runs under scripts/with-postgres.sh, so both sides share one database.
if [[ "${1:-}" == "__rounds" ]]; then
	shift
	out=$1 base_server=$2 base_loadtest=$3 cur_server=$4 cur_loadtest=$5
	rounds=${ROUNDS:-4}
	run_timeout=${REGRESS_RUN_TIMEOUT:-15m}
	common=(-profile "${REGRESS_PROFILE:-quick}")
	[[ -n "${REGRESS_SCENARIOS:-}" ]] && common+=(-scenarios "$REGRESS_SCENARIOS")
	# shellcheck disable=SC2206 # word splitting of the extra flags is the point
	extra=(${REGRESS_RUN_ARGS:-})
	cur_env=()
	for kv in ${REGRESS_SERVER_ENV:-}; do
		cur_env+=(-server-env "$kv")
	done
	side() { # side NAME ROUND
		local name=$1 round=$2 rc=0
		echo "regress: round $round/$rounds: $name" >&2
		if [[ $name == base ]]; then
			timeout --signal=INT --kill-after=30s "$run_timeout" "$base_loadtest" run -server-bin "$base_server" -seed "$round" -out "$out/base" "${common[@]}" "${extra[@]}" >"$out/logs/base-$round.log" 2>&1 || rc=$?
		else
			timeout --signal=INT --kill-after=30s "$run_timeout" "$cur_loadtest" run -server-bin "$cur_server" -seed "$round" -out "$out/current" "${common[@]}" "${cur_env[@]}" "${extra[@]}" >"$out/logs/current-$round.log" 2>&1 || rc=$?
		fi
		# 1 is a verdict (a failed or invalid scenario): the run folder is complete and compare
		# judges it. Anything else means no usable run folder.
		if ((rc != 0 && rc != 1)); then
			((rc == 124 || rc == 137)) && echo "regress: loadtest run ($name, round $round) hit REGRESS_RUN_TIMEOUT=$run_timeout" >&2
			echo "regress: loadtest run ($name, round $round) exited $rc; its log ends with:" >&2
			tail -n 20 "$out/logs/$name-$round.log" >&2
			exit 2
		fi
		last_run=$(readlink -f "$out/$name/latest")
	}
	invalid() { # invalid RUN_FOLDER: the INVALID scenarios of a run, if any
		jq -r '[.scenarios[] | select(.verdict == "INVALID") | .name] | join(",")' "$1/summary.json"
	}
	retries=${REGRESS_INVALID_RETRIES:-2}
	for ((r = 1; r <= rounds; r++)); do
		for ((try = 0; ; try++)); do
			if ((r % 2)); then order=(base current); else order=(current base); fi
			runs=()
			for name in "${order[@]}"; do
				side "$name" "$r"
				runs+=("$last_run")
			done
			bad=""
			for run in "${runs[@]}"; do
				[[ -n "$(invalid "$run")" ]] && bad+=" $(basename "$(dirname "$run")")/$(basename "$run") ($(invalid "$run"))"
			done
			if [[ -z "$bad" ]] || ((try >= retries)); then
				[[ -n "$bad" ]] && echo "regress: round $r still INVALID after $retries re-runs:$bad" >&2
				break
			fi
			# A round is re-run whole, so that both sides keep the same interleaving.
			echo "regress: round $r INVALID:$bad; re-running it ($((try + 1))/$retries)" >&2
			for run in "${runs[@]}"; do
				mkdir -p "$out/invalid/$(basename "$(dirname "$run")")"
				mv "$run" "$out/invalid/$(basename "$(dirname "$run")")/"
			done
		done
	done
	exit 0
fi

command -v go >/dev/null || die "go is not on PATH"
command -v jq >/dev/null || die "jq is not on PATH (it reads each run's verdicts)"
rounds=${ROUNDS:-4}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$rounds is not a positive integer"

if [[ -n "${BASE:-}" ]]; then
	base_commit=$(git rev-parse --verify --quiet "${BASE}^{commit}") || die "BASE=$BASE is not a commit"
else
	base_commit=$(git merge-base HEAD origin/main 2>/dev/null || git rev-parse --verify --quiet 'HEAD~1^{commit}' || git rev-parse HEAD)
fi
cur_commit=$(git rev-parse HEAD)
out=${REGRESS_OUT:-bench-results/regress-$(date -u +%Y%m%dT%H%M%SZ)}
thresholds=${THRESHOLDS:-bench/thresholds.json}
[[ -f "$thresholds" ]] || die "thresholds file $thresholds does not exist"
mkdir -p "$out/bin" "$out/logs"
out=$(cd "$out" && pwd)

base_label="$(git rev-parse --short "$base_commit") ($(git log -1 --format=%s "$base_commit" | cut -c1-60))"
cur_dirty=""
[[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] && cur_dirty=" dirty"
cur_label="$(git rev-parse --short "$cur_commit")${cur_dirty:+ + uncommitted changes}"
[[ -n "${REGRESS_SERVER_ENV:-}" ]] && cur_label+=" with $REGRESS_SERVER_ENV"
echo "regress: base $base_label, current $cur_label, $rounds rounds → $out" >&2

go build -o bin/server ./server || die "build the working tree's server failed"
go build -o bin/loadtest ./loadtest || die "build the working tree's loadtest failed"
cur_server=$root/bin/server
cur_loadtest=$root/bin/loadtest

wt=$(mktemp -d "${TMPDIR:-/tmp}/regress-base.XXXXXX")
cleanup() {
	git -C "$root" worktree remove --force "$wt/src" >/dev/null 2>&1 || true
	rm -rf "$wt"
}
trap cleanup EXIT
git worktree add --quiet --detach "$wt/src" "$base_commit" || die "git worktree add $base_commit failed"
[[ -d "$wt/src/server" ]] || die "base commit $(git rev-parse --short "$base_commit") has no server/ to build"
(cd "$wt/src" && go build -o "$out/bin/base-server" ./server) || die "build the base server at $(git rev-parse --short "$base_commit") failed"
base_loadtest=$cur_loadtest
if [[ "${REGRESS_HARNESS:-current}" == base ]]; then
	(cd "$wt/src" && go build -o "$out/bin/base-loadtest" ./loadtest) || die "build the base loadtest failed"
	base_loadtest=$out/bin/base-loadtest
fi
cp "$cur_server" "$out/bin/current-server"

finish() {
	echo "$1" >"$out/exit-code"
	exit "$1"
}
rc=0
scripts/with-postgres.sh "$0" __rounds "$out" "$out/bin/base-server" "$base_loadtest" "$out/bin/current-server" "$cur_loadtest" || rc=$?
((rc == 0)) || finish "$rc"

rc=0
"$cur_loadtest" compare -thresholds "$thresholds" -out "$out" \
	-base-label "$base_label" -current-label "$cur_label" \
	-base-commit "$base_commit" -current-commit "$cur_commit$cur_dirty" "$out/base" "$out/current" || rc=$?
echo "regress: compare.md and compare.json in $out (exit $rc: 0 pass, 1 regression or correctness failure, 2 cannot judge or broken)" >&2
finish "$rc"
