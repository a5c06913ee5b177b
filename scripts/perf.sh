#!/usr/bin/env bash
# perf.sh [--smoke] [perf run flags...]
#
# Measures P1–P5 of docs/perf.md and writes perf-results/<UTC time>/perf.md + perf.json,
# printing the P1–P5 table. Every figure is a ratio (or difference) of two measurements taken here,
# in interleaved rounds, on a throwaway PostgreSQL (scripts/with-postgres.sh).
#
# --smoke: short rounds (well under 2 minutes): checks that every figure is produced (exit 1 if
# one is not), not the targets. CI runs it so that the measurement cannot rot.
#
# Installs what is missing, saying so: wrk and PostgreSQL (for pgbench) from Debian's packages;
# the vegeta CLI and benchstat, pinned, into .bin/ with go install; Jaeger via `make jaeger`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

VEGETA_VERSION=v12.13.0
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da

smoke=0
args=()
for a in "$@"; do
	case "$a" in
	--smoke | -smoke) smoke=1 ;;
	*) args+=("$a") ;;
	esac
done

say() { echo "perf.sh: $*" >&2; }

# Debian packages: wrk, and pgbench (shipped in postgresql-NN on Debian 12).
find_pgbench() {
	local p
	p=$(ls -d /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1 || true)
	[[ -n "$p" ]] && { echo "$p"; return; }
	command -v pgbench 2>/dev/null || true
}
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
[[ -n "$(find_pgbench)" ]] || need+=(postgresql)
if ((${#need[@]})); then
	if [[ $(id -u) != 0 ]]; then
		say "missing ${need[*]} and not root: install them with apt-get"
		exit 2
	fi
	say "installing ${need[*]} from Debian's packages"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
pgbench=$(find_pgbench)

# Go tools, pinned, into .bin/ (reinstalled when the version in the binary differs).
mkdir -p .bin
go_tool() { # name module version
	local have
	have=$(go version -m ".bin/$1" 2>/dev/null | awk '$1 == "mod" {print $3}' || true)
	if [[ "$have" != "$3" ]]; then
		say "installing $1 $3 into .bin/ (go install $2@$3)"
		GOBIN="$root/.bin" go install "$2@$3"
	fi
}
go_tool vegeta github.com/tsenart/vegeta/v12 "$VEGETA_VERSION"
go_tool benchstat golang.org/x/perf/cmd/benchstat "$BENCHSTAT_VERSION"
# Jaeger (P2's collector): scripts/build-jaeger.sh builds it when missing or stale and says so,
# and does nothing when .bin/jaeger is up to date.
make -s jaeger

say "building bin/server and bin/perf"
go build -o bin/server ./server
go build -o bin/perf ./loadtest/perf

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=perf-results/$stamp
bench=(-benchtime=2s -count=6)
if ((smoke)); then
	out=perf-results/$stamp-smoke
	bench=(-benchtime=100x -count=1)
	args=(-smoke "${args[@]}")
fi
mkdir -p "$out"
ln -sfn "$(basename "$out")" perf-results/latest
say "results in $out (the machine's other load shows in the load averages perf.md records)"

# One throwaway PostgreSQL for the allocation benchmarks and the measurements. The benchmarks
# run first, on their own per-test databases (server/internal/dbtest); their output is kept
# raw for benchstat.
scripts/with-postgres.sh bash -c '
	set -euo pipefail
	out=$1 pgbench=$2; shift 2
	bench=()
	while (($#)) && [[ $1 != -- ]]; do bench+=("$1"); shift; done
	shift
	allocs=()
	if compgen -G "server/internal/httpapi/*_bench_test.go" >/dev/null; then
		echo "perf.sh: allocation benchmarks (go test -bench -benchmem ./server/internal/httpapi)" >&2
		go test -run "^$" -bench . -benchmem "${bench[@]}" ./server/internal/httpapi/ | tee "$out/allocs.txt" >&2
		allocs=(-allocs "$out/allocs.txt")
	else
		echo "perf.sh: no allocation benchmarks yet (server/internal/httpapi/*_bench_test.go)" >&2
	fi
	exec bin/perf run -out "$out" -server bin/server -wrk "$(command -v wrk)" -pgbench "$pgbench" \
		-vegeta .bin/vegeta -jaeger .bin/jaeger "${allocs[@]}" "$@"
' _ "$out" "$pgbench" "${bench[@]}" -- "${args[@]}"
