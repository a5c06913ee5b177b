#!/usr/bin/env bash
# stack.sh up|down|status
#
# The Docker-free observability stack, as plain processes on 127.0.0.1:
#   - PostgreSQL: scripts/with-postgres.sh holding a throwaway cluster open (or DATABASE_URL when
#     given: then nothing is started);
#   - Jaeger v2 (built from tools/jaeger by scripts/build-jaeger.sh), deploy/jaeger/config.yaml,
#     in-memory storage, tail sampling (slow, failed and bench-delayed traces plus a share of
#     the rest), every listener on 127.0.0.1;
#   - Prometheus from Debian's package, with deploy/prometheus/prometheus.yml.tmpl rendered and
#     checked by `promtool check config`, exemplar storage on.
#
# `up` writes $STACK_DIR/env (default .stack/env): KEY=VALUE lines, readable by `source` and by
# make's `include`, with the URLs the harness needs and the PIDs this script started. `down`
# stops those PIDs (TERM, then KILL after 10 s) and removes $STACK_DIR. Nothing is killed by name.
#
# Ports: the usual ones (4317/4318 OTLP, 16686 Jaeger UI, 9090 Prometheus, 9101 harness metrics)
# when free, otherwise free ones picked at random, so a second stack (the proof's) can run beside
# a developer's. $STACK_DIR/env is the only place to read them from.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
stack_dir=${STACK_DIR:-$root/.stack}
# Absolute: the PIDs' working folders and the env file's readers may be anywhere.
mkdir -p "$stack_dir"
stack_dir=$(cd "$stack_dir" && pwd)
env_file=$stack_dir/env
scrape_interval=${STACK_SCRAPE_INTERVAL:-1s}
# Tail sampling in Jaeger (deploy/jaeger/config.yaml): a trace is "slow", and always kept, above a
# fifth of the p99 objective (the harness's -slo-p99, default 100ms): a request that used a fifth
# of the budget is worth opening, while the usual 1-3 ms ones are not. Plus a probabilistic share
# of the rest. STACK_SLOW_MS sets the threshold directly.
slo_p99=${STACK_SLO_P99:-100ms}
keep_percent=${STACK_TAIL_KEEP_PERCENT:-5}
# An extra Prometheus scrape job over the same servers under another name (the proof uses it to
# show that the dashboards' $job variable works for a Prometheus that names jobs its own way).
server_job_alias=${STACK_SERVER_JOB_ALIAS:-}

die() {
	echo "stack: $*" >&2
	exit 2
}

# slow_ms DURATION: a fifth of a duration given in ms or s (100ms, 0.5s), in whole milliseconds.
slow_ms() {
	local d=$1 ms
	case "$d" in
	*ms) ms=${d%ms} ;;
	*s) ms=$(awk -v s="${d%s}" 'BEGIN { printf "%d", s * 1000 }') ;;
	*) die "STACK_SLO_P99=$d: want a duration in ms or s, e.g. 100ms" ;;
	esac
	[[ "$ms" =~ ^[0-9]+$ && "$ms" -ge 5 ]] || die "STACK_SLO_P99=$d: want at least 5ms"
	echo $((ms / 5))
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port PREFERRED: PREFERRED when nothing listens there, else a random free port. Ports
# already handed out in this run are remembered so that two services do not get the same one.
picked=" "
pick_port() {
	local p=$1 i
	for ((i = 0; i < 50; i++)); do
		if [[ "$picked" != *" $p "* ]] && ! port_in_use "$p"; then
			picked+="$p "
			echo "$p"
			return
		fi
		p=$((20000 + RANDOM % 20000))
	done
	die "no free port found near $1"
}

# wait_http URL PID NAME LOG: until URL answers 2xx, or PID dies, or 60 s pass.
wait_http() {
	local url=$1 pid=$2 name=$3 log=$4 i
	for ((i = 0; i < 600; i++)); do
		if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "stack: $name exited during start; its log ends with:" >&2
			tail -n 20 "$log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "stack: $name did not answer $url within 60 s; its log ends with:" >&2
	tail -n 20 "$log" >&2
	return 1
}

# stop_pid PID NAME: TERM, wait up to 10 s, then KILL. The PID is checked against the command
# line recorded at start so that a PID reused by an unrelated process is never signalled.
stop_pid() {
	local pid=$1 name=$2 want=${3:-} i
	[[ -n "$pid" ]] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	if [[ -n "$want" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$want"; then
		echo "stack: PID $pid ($name) now runs something else; not signalling it" >&2
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "stack: $name (PID $pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
	kill -KILL "$pid" 2>/dev/null || true
}

env_get() { sed -n "s/^$1=//p" "$env_file" 2>/dev/null | tail -n 1; }

ensure_prometheus() {
	command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && return 0
	if [[ $(id -u) != 0 ]]; then
		die "prometheus/promtool not on PATH and not root to install them; install Debian's package: apt-get install prometheus"
	fi
	echo "stack: installing Debian's prometheus package (prometheus, promtool)" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null || die "apt-get update failed; cannot install prometheus"
	# The package's post-install tries to start a service; in a container without an init that
	# fails harmlessly and the binaries are still installed.
	apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || true
	command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 ||
		die "apt-get install prometheus did not provide prometheus and promtool"
}

up() {
	if [[ -f "$env_file" ]]; then
		local pid
		pid=$(env_get PROMETHEUS_PID)
		if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
			echo "stack: already up ($env_file); 'scripts/stack.sh down' first to restart it" >&2
			cat "$env_file"
			return 0
		fi
		echo "stack: stale $env_file (its processes are gone); stopping leftovers and starting afresh" >&2
		down
		mkdir -p "$stack_dir"
	fi

	ensure_prometheus
	"$root/scripts/build-jaeger.sh" "$root/.bin/jaeger"

	local pg_pid="" jaeger_pid="" prom_pid=""
	# Until env is written, a failure stops whatever was started.
	trap 'stop_pid "$prom_pid" prometheus; stop_pid "$jaeger_pid" jaeger; stop_pid "$pg_pid" postgres' EXIT

	# PostgreSQL: with-postgres.sh keeps its cluster for as long as its command runs, and cleans
	# it up when that command is TERMed. The command writes the URL out and sleeps.
	local database_url
	if [[ -n "${DATABASE_URL:-}" ]]; then
		database_url=$DATABASE_URL
	else
		local url_file=$stack_dir/database_url
		rm -f "$url_file"
		setsid "$root/scripts/with-postgres.sh" sh -c 'printf "%s\n" "$DATABASE_URL" >"$1.tmp" && mv "$1.tmp" "$1" && exec sleep 2147483647' \
			stack-postgres "$url_file" >"$stack_dir/postgres.log" 2>&1 </dev/null &
		pg_pid=$!
		local i
		for ((i = 0; i < 600; i++)); do
			[[ -s "$url_file" ]] && break
			if ! kill -0 "$pg_pid" 2>/dev/null; then
				tail -n 20 "$stack_dir/postgres.log" >&2
				die "PostgreSQL (scripts/with-postgres.sh) exited during start"
			fi
			sleep 0.1
		done
		[[ -s "$url_file" ]] || die "PostgreSQL did not start within 60 s; see $stack_dir/postgres.log"
		database_url=$(cat "$url_file")
	fi

	local otlp_grpc otlp_http jaeger_ui jaeger_grpc jaeger_health
	otlp_grpc=$(pick_port 4317)
	otlp_http=$(pick_port 4318)
	jaeger_ui=$(pick_port 16686)
	jaeger_grpc=$(pick_port 16685)
	jaeger_health=$(pick_port 13133)
	local tail_slow_ms
	tail_slow_ms=${STACK_SLOW_MS:-$(slow_ms "$slo_p99")}
	JAEGER_TAIL_SLOW_MS=$tail_slow_ms \
		JAEGER_TAIL_KEEP_PERCENT=$keep_percent \
		JAEGER_OTLP_GRPC_ADDR=127.0.0.1:$otlp_grpc \
		JAEGER_OTLP_HTTP_ADDR=127.0.0.1:$otlp_http \
		JAEGER_QUERY_HTTP_ADDR=127.0.0.1:$jaeger_ui \
		JAEGER_QUERY_GRPC_ADDR=127.0.0.1:$jaeger_grpc \
		JAEGER_HEALTH_ADDR=127.0.0.1:$jaeger_health \
		JAEGER_UI_ASSETS=$root/deploy/jaeger/ui \
		setsid "$root/.bin/jaeger" --config "file:$root/deploy/jaeger/config.yaml" \
		>"$stack_dir/jaeger.log" 2>&1 </dev/null &
	jaeger_pid=$!
	wait_http "http://127.0.0.1:$jaeger_health/status" "$jaeger_pid" jaeger "$stack_dir/jaeger.log" || exit 2

	local prom_port harness_port sd_file=$stack_dir/items-server.sd.json
	prom_port=$(pick_port 9090)
	harness_port=$(pick_port 9101)
	echo '[]' >"$sd_file"
	sed -e "s|@SCRAPE_INTERVAL@|$scrape_interval|g" \
		-e "s|@PROMETHEUS_ADDR@|127.0.0.1:$prom_port|g" \
		-e "s|@SERVER_SD_FILE@|$sd_file|g" \
		-e "s|@HARNESS_METRICS_ADDR@|127.0.0.1:$harness_port|g" \
		"$root/deploy/prometheus/prometheus.yml.tmpl" >"$stack_dir/prometheus.yml"
	if [[ -n "$server_job_alias" ]]; then
		cat >>"$stack_dir/prometheus.yml" <<EOF

  # STACK_SERVER_JOB_ALIAS: the same servers under another job name.
  - job_name: $server_job_alias
    file_sd_configs:
      - files: ["$sd_file"]
        refresh_interval: 5s
EOF
	fi
	promtool check config "$stack_dir/prometheus.yml" >"$stack_dir/promtool.log" 2>&1 || {
		cat "$stack_dir/promtool.log" >&2
		die "promtool check config rejected $stack_dir/prometheus.yml"
	}
	setsid prometheus --config.file="$stack_dir/prometheus.yml" \
		--web.listen-address="127.0.0.1:$prom_port" \
		--storage.tsdb.path="$stack_dir/prometheus-data" \
		--storage.tsdb.retention.time=2d \
		--enable-feature=exemplar-storage \
		>"$stack_dir/prometheus.log" 2>&1 </dev/null &
	prom_pid=$!
	wait_http "http://127.0.0.1:$prom_port/-/ready" "$prom_pid" prometheus "$stack_dir/prometheus.log" || exit 2

	cat >"$env_file.tmp" <<EOF
# Written by scripts/stack.sh up; removed by scripts/stack.sh down. KEY=VALUE, no quoting needed.
STACK_DIR=$stack_dir
STARTED_AT=$(date -u +%s)
DATABASE_URL=$database_url
OTEL_ENDPOINT=http://127.0.0.1:$otlp_http
OTEL_GRPC_ENDPOINT=http://127.0.0.1:$otlp_grpc
JAEGER_URL=http://127.0.0.1:$jaeger_ui
PROMETHEUS_URL=http://127.0.0.1:$prom_port
HARNESS_METRICS_ADDR=127.0.0.1:$harness_port
PROM_SD_FILE=$sd_file
SCRAPE_INTERVAL=$scrape_interval
TAIL_SLOW_MS=$tail_slow_ms
TAIL_KEEP_PERCENT=$keep_percent
SERVER_JOB_ALIAS=$server_job_alias
POSTGRES_PID=$pg_pid
JAEGER_PID=$jaeger_pid
PROMETHEUS_PID=$prom_pid
EOF
	mv "$env_file.tmp" "$env_file"
	trap - EXIT
	echo "stack: up; Jaeger http://127.0.0.1:$jaeger_ui  Prometheus http://127.0.0.1:$prom_port  OTLP http://127.0.0.1:$otlp_http  ($env_file)" >&2
}

down() {
	if [[ ! -f "$env_file" ]]; then
		echo "stack: not up (no $env_file)" >&2
		rm -rf "$stack_dir"
		return 0
	fi
	# Reverse start order: Prometheus and Jaeger first, the database last.
	stop_pid "$(env_get PROMETHEUS_PID)" prometheus prometheus
	stop_pid "$(env_get JAEGER_PID)" jaeger jaeger
	stop_pid "$(env_get POSTGRES_PID)" postgres with-postgres.sh
	rm -rf "$stack_dir"
	echo "stack: down" >&2
}

status() {
	[[ -f "$env_file" ]] || {
		echo "stack: not up" >&2
		return 1
	}
	local rc=0 name pid
	for name in POSTGRES JAEGER PROMETHEUS; do
		pid=$(env_get "${name}_PID")
		[[ -z "$pid" ]] && continue
		if kill -0 "$pid" 2>/dev/null; then
			echo "$name pid $pid: running"
		else
			echo "$name pid $pid: gone"
			rc=1
		fi
	done
	cat "$env_file"
	return "$rc"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*)
	echo "usage: $0 up|down|status" >&2
	exit 2
	;;
esac
