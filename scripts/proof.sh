#!/usr/bin/env bash
# proof.sh: the observability proof (`make proof`).
#
# 1. brings up a private local stack (scripts/stack.sh with STACK_DIR in a temporary folder, so
#    a developer's `make stack` is left alone);
# 2. runs the quick bench against it with every request traced, the harness's metrics served and
#    each started server announced to Prometheus through the file_sd file;
# 3. runs dashboards/proof's TestProof: every dashboard query returns data for the bench's
#    minutes, the slowest requests of summary.json are complete traces in Jaeger, and the
#    dashboards use the provisioned data-source UIDs;
# 4. stops everything it started, however it ends.
#
# A Prometheus that cannot be installed or a Jaeger that cannot be built fails here with the
# reason (scripts/stack.sh), under CI=true as anywhere else: there is no skip.
# Needs bin/server and bin/loadtest (make build). Takes about a minute plus the first Jaeger build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

die() {
	echo "proof: $*" >&2
	exit 2
}

[[ -x bin/server && -x bin/loadtest ]] || die "bin/server and bin/loadtest are missing: run 'make build' first"

STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/proof-stack.XXXXXX")
export STACK_DIR
# A second scrape job over the same servers, named the way a Kubernetes ServiceMonitor would:
# the dashboards' $job variable must work with it too (TestProof checks both names).
export STACK_SERVER_JOB_ALIAS=server
cleanup() {
	local rc=$?
	scripts/stack.sh down || true
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/stack.sh up
env_file=$STACK_DIR/env
val() { sed -n "s/^$1=//p" "$env_file"; }

out=$STACK_DIR/bench
# Every request traced (-trace-sample 1): the proof looks up the slowest requests' traces, and
# an unsampled one has none. The verdicts are not what is proven here, so exit 1 (a scenario
# failed or was INVALID on a busy machine) does not fail the proof; 2 (set-up error) does.
bench_rc=0
DATABASE_URL=$(val DATABASE_URL) bin/loadtest run -profile quick -out "$out" \
	-otel-endpoint "$(val OTEL_ENDPOINT)" \
	-jaeger-url "$(val JAEGER_URL)" \
	-metrics-addr "$(val HARNESS_METRICS_ADDR)" \
	-prom-sd-file "$(val PROM_SD_FILE)" \
	-trace-sample 1 || bench_rc=$?
case "$bench_rc" in
0) ;;
1) echo "proof: the bench's verdict was not PASS (exit 1); checking its telemetry all the same" >&2 ;;
*) die "loadtest run exited $bench_rc" ;;
esac

run_dir=$(find "$out" -mindepth 1 -maxdepth 1 -type d -name '2*' | sort | tail -n 1)
[[ -n "$run_dir" && -f "$run_dir/summary.json" ]] || die "no run folder with summary.json under $out"

# One more scrape interval, so that the last seconds of the bench are in Prometheus.
sleep "$(val SCRAPE_INTERVAL | sed 's/s$//')"

PROOF_STACK_ENV=$env_file PROOF_RUN_DIR=$run_dir \
	go test -count=1 -run '^TestProof$' -v ./dashboards/proof
