#!/usr/bin/env bash
# perf-p1b.sh [ROUNDS]
#
# P1b of docs/perf.md: why does PostgreSQL spend more CPU per request on the server's query than
# on pgbench's identical prepared query? Runs on a throwaway PostgreSQL (scripts/with-postgres.sh),
# interleaved rounds (default 3), 10 000 items as make perf seeds them, and prints:
#   1. protocol: PostgreSQL CPU µs per query, pgbench -M prepared vs pgx (bin/perf pgclient) in its
#      default exec mode, pgbench throttled to pgx's rate, and pgx with a Describe round trip per
#      query, same 8 connections, no HTTP;
#   2. planning: pg_stat_statements' calls, plans, mean plan and execution time of pgbench's query
#      with the default plan_cache_mode and with force_generic_plan;
#   3. arrival rate: the server (pool 8) under wrk -c32, pgbench -c32 flat out, and pgbench -c32
#      throttled (-R) to the rate the server reached in the same round;
#   4. where the backends' CPU goes (perf record -e cpu-clock, PostgreSQL processes only) under
#      the server and under pgbench;
#   5. the bare handler P1 is judged against: its plans and PostgreSQL's CPU per query beside
#      the server's.
# PostgreSQL CPU is the postmaster's and all its backends' (live or reaped) from /proc.
# Every load is on 127.0.0.1 and bounded; every process it starts is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
go build -o bin/server ./server
go build -o bin/perf ./loadtest/perf
exec scripts/with-postgres.sh bash -c '
set -euo pipefail
rounds=$1
psql() { "$PG_BIN/psql" -X -q -At "$DATABASE_URL" "$@"; }
dir=$(psql -c "SHOW data_directory")
owner=(); [[ $(id -u) == 0 ]] && owner=(runuser -u postgres --)
psql -c "ALTER SYSTEM SET shared_preload_libraries = '\''pg_stat_statements'\''"
"${owner[@]}" "$PG_BIN/pg_ctl" -D "$dir" -w restart >/dev/null
psql -c "CREATE EXTENSION pg_stat_statements"
psql -c "ALTER SYSTEM SET pg_stat_statements.track_planning = on" -c "SELECT pg_reload_conf()" >/dev/null
pm=$(head -1 "$dir/postmaster.pid")
secret=$(head -c 32 /dev/urandom | base64 | head -c 43)
port=$((20000 + RANDOM % 20000))
JWT_SECRET=$secret DATABASE_URL="$DATABASE_URL&pool_max_conns=8" ADDR=127.0.0.1:$port ADMIN_ADDR=127.0.0.1:0 \
	OTEL_TRACES_EXPORTER=none LOG_LEVEL=warn bin/server >/dev/null 2>&1 &
server=$!
trap "kill $server 2>/dev/null; wait $server 2>/dev/null || true" EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
psql -c "INSERT INTO items (name, description) SELECT '\''item '\'' || g, repeat('\''d'\'', 100) FROM generate_series(1, 10000) g"
psql -c "VACUUM ANALYZE items"
token=$(JWT_SECRET=$secret bin/server token)
# As in make perf: an upstream that did not sample, so the server records no span (P1, P2 "off").
parent="traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
script=$(mktemp); printf "\\\\set lim 20\n\\\\set off 0\nSELECT id, name, description, created_at FROM items ORDER BY id LIMIT :lim OFFSET :off;\n" > "$script"
cpu() { local t=0 s; for p in $pm $(ps -o pid= --ppid "$pm"); do s=$(awk "{print \$14+\$15+\$16+\$17}" /proc/$p/stat 2>/dev/null || echo 0); t=$((t + s)); done; echo "$t"; }
per_q() { echo "($2-$1)*10000/$3" | bc -l | xargs printf "%.0f"; } # ticks → µs per query
pgbench() { # label seconds args... → prints "label rate µs/q", sets tps
	local label=$1 secs=$2; shift 2
	local c0 out; c0=$(cpu)
	out=$("$PG_BIN/pgbench" -n -M prepared -j2 -T "$secs" "$@" -f "$script" "$DATABASE_URL" 2>&1)
	tps=$(echo "$out" | awk "/^tps/ {printf \"%.0f\", \$3}")
	printf "  %-44s %7s/s  PostgreSQL %4s µs/query\n" "$label" "$tps" "$(per_q "$c0" "$(cpu)" $((tps * secs)))"
}
pgclient() { # mode → sets rate
	local c0 out n; c0=$(cpu)
	out=$(bin/perf pgclient -mode "$1" -c 8 -duration 8s)
	n=$(echo "$out" | sed "s/.*\"queries\":\([0-9]*\).*/\1/")
	rate=$((n / 8))
	printf "  %-44s %7s/s  PostgreSQL %4s µs/query\n" "pgx $1 -c8" "$rate" "$(per_q "$c0" "$(cpu)" "$n")"
}
server() { # → sets rate
	local c0 n; c0=$(cpu)
	n=$(wrk -t2 -c32 -d8s -H "Authorization: Bearer $token" -H "$parent" "http://127.0.0.1:$port/api/v1/items?page=1&per_page=20" | awk "/requests in/ {print \$1}")
	rate=$((n / 8))
	printf "  %-44s %7s/s  PostgreSQL %4s µs/query\n" "server (pool 8) under wrk -t2 -c32" "$rate" "$(per_q "$c0" "$(cpu)" "$n")"
}
echo "load average at start: $(cut -d" " -f1-3 /proc/loadavg)"
echo "1. protocol (no HTTP, 8 connections, default plan_cache_mode)"
for r in $(seq "$rounds"); do
	echo " round $r"; pgbench "pgbench -M prepared -c8" 8 -c8; pgclient cache_statement
	pgbench "pgbench -M prepared -c8 -R $rate (the pgx rate)" 8 -c8 -R "$rate"; pgclient describe_exec
done
echo "2. planning (pg_stat_statements over one 8 s pgbench -c8 run each)"
for mode in auto force_generic_plan; do
	psql -c "SELECT pg_stat_statements_reset()" >/dev/null
	PGOPTIONS="-c plan_cache_mode=$mode" "$PG_BIN/pgbench" -n -M prepared -c8 -j2 -T8 -f "$script" "$DATABASE_URL" >/dev/null 2>&1
	psql -F " " -c "SELECT '\''  plan_cache_mode='\'' || '\''$mode'\'' || '\'': calls '\'' || calls || '\'', plans '\'' || plans || '\'', mean plan '\'' || round((total_plan_time / greatest(plans, 1) * 1000)::numeric, 1) || '\'' µs, mean execution '\'' || round(mean_exec_time::numeric * 1000, 1) || '\'' µs'\'' FROM pg_stat_statements WHERE query LIKE '\''SELECT id, name%'\''"
done
echo "3. arrival rate (the server sets plan_cache_mode=force_generic_plan; pgbench gets the same)"
export PGOPTIONS="-c plan_cache_mode=force_generic_plan"
server >/dev/null # warm-up
for r in $(seq "$rounds"); do
	echo " round $r"; server; pgbench "pgbench -c32 flat out" 8 -c32; pgbench "pgbench -c32 -R $rate (the server'\''s rate)" 8 -c32 -R "$rate"
done
echo "4. where PostgreSQL'\''s CPU goes (perf record -a -e cpu-clock, 4 s, postgres processes only; top symbols)"
profile() { # label cmd...
	local label=$1; shift
	"$@" >/dev/null 2>&1 & local load=$!
	sleep 2
	local data; data=$(mktemp)
	perf record -q -a -F 499 -e cpu-clock -o "$data" -- sleep 4 >/dev/null 2>&1
	wait $load
	echo "  $label:"
	perf report -i "$data" --comm postgres --percentage relative --no-children --sort sym --stdio 2>/dev/null |
		grep -E "^ +[0-9]" | head -8 || true # head closes the pipe early: not a failure
	rm -f "$data"
}
profile "under the server" wrk -t2 -c32 -d7s -H "Authorization: Bearer $token" -H "$parent" "http://127.0.0.1:$port/api/v1/items?page=1&per_page=20"
profile "under pgbench -c32" "$PG_BIN/pgbench" -n -M prepared -c32 -j2 -T7 -f "$script" "$DATABASE_URL"
echo "5. the bare handler (P1'\''s reference) plans and costs PostgreSQL as the server does, at its rate"
bport=$((port + 1))
DATABASE_URL="$DATABASE_URL&pool_max_conns=8&plan_cache_mode=force_generic_plan" bin/perf bare -addr 127.0.0.1:$bport >/dev/null 2>&1 &
bare=$!
trap "kill $server $bare 2>/dev/null; wait $server $bare 2>/dev/null || true" EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$bport") 2>/dev/null && break; sleep 0.1; done
planned() { # label port
	psql -c "SELECT pg_stat_statements_reset()" >/dev/null
	local c0 n; c0=$(cpu)
	n=$(wrk -t2 -c32 -d8s -H "Authorization: Bearer $token" -H "$parent" "http://127.0.0.1:$2/api/v1/items?page=1&per_page=20" | awk "/requests in/ {print \$1}")
	printf "  %-44s %7s/s  PostgreSQL %4s µs/query  %s\n" "$1" "$((n / 8))" "$(per_q "$c0" "$(cpu)" "$n")" \
		"$(psql -c "SELECT sum(calls) || '\'' calls, '\'' || sum(plans) || '\'' plans'\'' FROM pg_stat_statements WHERE query LIKE '\''SELECT id, name%'\''")"
}
for r in $(seq "$rounds"); do
	echo " round $r"; planned "server under wrk -t2 -c32" "$port"; planned "bare handler under wrk -t2 -c32" "$bport"
done
echo "load average at end: $(cut -d" " -f1-3 /proc/loadavg)"
rm -f "$script"
' _ "$rounds"
