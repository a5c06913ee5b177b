#!/usr/bin/env bash
# Installs the Debian packages the tests, benches and the local stack use when they are missing,
# and says what it installs. Go tools (vegeta, benchstat, actionlint, Jaeger) are pinned and built
# by the targets that use them.
set -euo pipefail
need=()
have_pg_bin() { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
have_pg_bin || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if ((${#need[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "install-deps: missing ${need[*]} and not root; install them with apt-get" >&2
		exit 2
	fi
	echo "install-deps: installing ${need[*]} (Debian packages)" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
