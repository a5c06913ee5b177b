#!/usr/bin/env bash
# install-deps.sh [NEED...]
#
# Makes sure the tools outside Go that the targets use are here, installing the missing ones
# from Debian's packages and saying what it installs. Each NEED is one of:
#   postgresql  PostgreSQL 14 or newer, server binaries (scripts/with-postgres.sh --check finds
#               them the way the tests and benches do)
#   jq          make regress
#   prometheus  prometheus and promtool: make stack, make proof, make test
#   wrk         make perf
# No NEED: all of them (CI). Quick and silent when everything is there, so every target that
# needs something calls it first. Not root and something missing: one line naming the command to
# run, exit 2. Go tools (vegeta, benchstat, actionlint, Jaeger) are pinned and built by the
# targets that use them.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(postgresql jq prometheus wrk)
(($#)) || set -- "${all[@]}"

has() { # has NEED: is it here?
	case $1 in
	postgresql) scripts/with-postgres.sh --check 2>/dev/null ;;
	prometheus) command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 ;;
	jq | wrk) command -v "$1" >/dev/null 2>&1 ;;
	*)
		echo "install-deps: unknown need $1 (want: ${all[*]})" >&2
		exit 2
		;;
	esac
}

missing=()
for need in "$@"; do
	has "$need" || missing+=("$need")
done
((${#missing[@]})) || exit 0
# A PG_BIN that names no usable PostgreSQL is a setting to fix, not a package to install.
if [[ -n "${PG_BIN:-}" && " ${missing[*]} " == *" postgresql "* ]]; then
	scripts/with-postgres.sh --check || exit 2
fi

if [[ $(id -u) != 0 ]]; then
	echo "install-deps: missing ${missing[*]} and not root; run: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 2
fi
echo "install-deps: installing ${missing[*]} (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! apt-get update -q >"$log" 2>&1; then
	tail -n 5 "$log" >&2
	echo "install-deps: apt-get update failed (no network?); cannot install ${missing[*]}" >&2
	exit 2
fi
# A package's post-install may try to start a service (prometheus, postgresql); in a container
# without an init that fails harmlessly, so success is judged by what is on disk afterwards.
apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 || true
for need in "${missing[@]}"; do
	has "$need" && continue
	tail -n 5 "$log" >&2
	# with-postgres.sh says why (none found, or older than 14) in one line.
	# (|| true: under set -e its exit 2 would end the script before the line below.)
	if [[ $need == postgresql ]]; then scripts/with-postgres.sh --check || true; fi
	echo "install-deps: apt-get install $need did not provide it" >&2
	exit 2
done
