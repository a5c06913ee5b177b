#!/usr/bin/env bash
# with-postgres.sh CMD [ARGS...]
# with-postgres.sh --check
#
# Runs CMD with a throwaway PostgreSQL on 127.0.0.1 and exports DATABASE_URL and
# TEST_DATABASE_URL pointing at it. The cluster lives in a temporary folder and is stopped and
# removed when CMD ends, however it ends (exit, failure, Ctrl-C, SIGTERM). CMD's exit code is
# this script's exit code.
#
# When TEST_DATABASE_URL or DATABASE_URL is already set, nothing is started: CMD runs against
# that database (the missing one of the two is set to the given one).
#
# The server binaries are looked up, not assumed: $PG_BIN, then initdb on PATH, then the newest
# /usr/lib/postgresql/*/bin, and must be PostgreSQL 14 or newer (the server sets
# client_connection_check_interval, new in 14). --check only looks: exit 0 when CMD could run,
# else one line saying why and exit 2 (scripts/install-deps.sh asks it). As root, the cluster runs as the `postgres` user (initdb refuses root).
# fsync is off: the cluster is thrown away, and durability across a crash of PostgreSQL itself is
# not what the tests and benches measure.
set -euo pipefail

if (($# == 0)); then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

if [[ -n "${TEST_DATABASE_URL:-}${DATABASE_URL:-}" ]]; then
	[[ $1 == --check ]] && exit 0
	export TEST_DATABASE_URL="${TEST_DATABASE_URL:-$DATABASE_URL}"
	export DATABASE_URL="${DATABASE_URL:-$TEST_DATABASE_URL}"
	exec "$@"
fi

find_pg_bin() {
	if [[ -n "${PG_BIN:-}" ]]; then
		echo "$PG_BIN"
		return
	fi
	if command -v initdb >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v initdb)")"
		return
	fi
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	[[ -n "$d" ]] && echo "$d"
}

pg_bin=$(find_pg_bin || true)
if [[ -z "$pg_bin" || ! -x "$pg_bin/initdb" || ! -x "$pg_bin/pg_ctl" || ! -x "$pg_bin/postgres" ]]; then
	echo "with-postgres: no PostgreSQL server binaries found (looked at \$PG_BIN, initdb on PATH, /usr/lib/postgresql/*/bin);" \
		"run scripts/install-deps.sh postgresql (as root), or set PG_BIN or TEST_DATABASE_URL" >&2
	exit 2
fi
pg_version=$("$pg_bin/postgres" --version | awk '{print $3}')
pg_major=${pg_version%%[!0-9]*}
if [[ -z "$pg_major" ]] || ((pg_major < 14)); then
	echo "with-postgres: PostgreSQL $pg_version in $pg_bin is too old: the server needs 14 or newer (client_connection_check_interval); set PG_BIN to a newer one" >&2
	exit 2
fi
[[ $1 == --check ]] && exit 0

as_owner=()
if [[ $(id -u) == 0 ]]; then
	if ! id postgres >/dev/null 2>&1; then
		echo "with-postgres: running as root and there is no 'postgres' user to own the cluster (initdb refuses root)" >&2
		exit 2
	fi
	as_owner=(runuser -u postgres --)
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/with-postgres.XXXXXX")
chmod 755 "$root"
data="$root/data"
sock="$root/sock"
log="$root/postgres.log"
mkdir -p "$sock"
touch "$log"
if ((${#as_owner[@]})); then
	chown postgres: "$root" "$sock" "$log"
fi

started=""
child=""
cleanup() {
	local rc=$?
	if [[ -n "$child" ]] && kill -0 "$child" 2>/dev/null; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	if [[ -n "$started" ]]; then
		"${as_owner[@]}" "$pg_bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$root"
	exit "$rc"
}
trap cleanup EXIT

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

"${as_owner[@]}" "$pg_bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-sync >"$root/initdb.log" 2>&1 || {
	echo "with-postgres: initdb failed:" >&2
	tail -n 20 "$root/initdb.log" >&2
	exit 2
}

for attempt in 1 2 3 4 5 6 7 8; do
	port=$((20000 + RANDOM % 20000))
	port_in_use "$port" && continue
	if "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$data" -l "$log" -w -t 30 \
		-o "-p $port -k $sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
		start >/dev/null 2>&1; then
		started=1
		break
	fi
done
if [[ -z "$started" ]]; then
	echo "with-postgres: PostgreSQL did not start; its log ends with:" >&2
	tail -n 20 "$log" >&2
	exit 2
fi

"$pg_bin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE DATABASE items" >/dev/null 2>&1 ||
	"${as_owner[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U postgres items

export DATABASE_URL="postgres://postgres@127.0.0.1:$port/items?sslmode=disable"
export TEST_DATABASE_URL="$DATABASE_URL"
export PG_BIN="$pg_bin"
echo "with-postgres: PostgreSQL $pg_version on 127.0.0.1:$port (data in $root)" >&2

# CMD runs in the background so that SIGTERM to this script can be passed on to it; SIGINT from a
# terminal reaches CMD directly (same process group), so it is not sent a second time.
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' TERM
trap ':' INT
rc=0
while :; do
	wait "$child" && rc=0 || rc=$?
	kill -0 "$child" 2>/dev/null || break
done
child=""
exit "$rc"
