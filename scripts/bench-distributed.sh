#!/usr/bin/env bash
# make bench-distributed WORKERS=N: N `loadtest worker` processes and the coordinator
# (`loadtest run -workers ...`) on this machine, against a throwaway PostgreSQL (run it under
# scripts/with-postgres.sh, as the make target does). docs/distributed.md.
#
# Each worker gets its own network namespace and address when it can (root, `ip`): a bridge
# with 198.18.77.1/24 (RFC 2544's benchmarking range, never routed) on this side, a veth per
# worker into its namespace with 198.18.77.(10+i), the server's public listener on 198.18.77.1,
# so every request and every result crosses a real veth hop. Without that it says so and runs
# the workers on loopback. Whatever happens (an error, Ctrl-C), the workers are stopped by PID
# and the namespaces and links removed; should this script be killed outright, the kernel
# kills the workers (-parent-pid $$). The workers and the coordinator share a random key made
# for this run (LOADTEST_WORKER_KEY), exported to them only, never printed.
#
# usage: scripts/bench-distributed.sh N [loadtest run flags...]
set -euo pipefail

n=${1:?usage: scripts/bench-distributed.sh N [loadtest run flags...]}
shift
[[ $n =~ ^[1-9][0-9]?$ ]] || { echo "bench-distributed: N must be 1–99, got '$n'" >&2; exit 2; }
BIN=${BIN:-bin}
tag=lt$$ # names unique to this run: another run beside it keeps its own
bridge=${tag}br
subnet=198.18.77
port=7070
logs=$(mktemp -d)
# 32 random bytes in hex: a worker refuses a shorter key.
LOADTEST_WORKER_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export LOADTEST_WORKER_KEY
pids=()
namespaces=()

cleanup() {
	local pid ns
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	# Deleting a namespace deletes the veth end in it, and with it the peer on this side.
	for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	ip link del "$bridge" 2>/dev/null || true
	rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# netns sets up the bridge and one namespace per worker; it fails (and the caller falls back)
# at the first step this machine refuses.
netns() {
	[[ $(id -u) == 0 ]] || { echo "not root"; return 1; }
	command -v ip >/dev/null || { echo "no ip command"; return 1; }
	ip link add "$bridge" type bridge 2>&1 || return 1
	ip addr add "$subnet.1/24" dev "$bridge" && ip link set "$bridge" up || return 1
	local i ns
	for ((i = 1; i <= n; i++)); do
		ns=${tag}w$i
		ip netns add "$ns" 2>&1 || return 1
		namespaces+=("$ns")
		ip link add "${tag}h$i" type veth peer name "${tag}n$i" 2>&1 || return 1
		ip link set "${tag}h$i" master "$bridge" up &&
			ip link set "${tag}n$i" netns "$ns" &&
			ip -n "$ns" addr add "$subnet.$((10 + i))/24" dev "${tag}n$i" &&
			ip -n "$ns" link set "${tag}n$i" up &&
			ip -n "$ns" link set lo up || return 1
	done
}

# first_line waits up to 10 s for a worker's first output line: the address it listens on.
first_line() {
	local f=$1 pid=$2
	for _ in $(seq 100); do
		if [[ -s $f ]] && IFS= read -r line <"$f"; then
			echo "$line"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench-distributed: worker pid $pid printed no address: $(tail -3 "$f.err" 2>/dev/null)" >&2
	return 1
}

addrs=()
server_host=127.0.0.1
# Not in a subshell: the names it records are what cleanup removes.
if netns >"$logs/netns" 2>&1; then
	echo "bench-distributed: $n workers, each in its own network namespace ($subnet.11–$subnet.$((10 + n)), server on $subnet.1)"
	for ((i = 1; i <= n; i++)); do
		ip netns exec "${tag}w$i" "$BIN/loadtest" worker -parent-pid $$ -listen "$subnet.$((10 + i)):$port" \
			>"$logs/w$i" 2>"$logs/w$i.err" &
		pids+=($!) # ip netns exec execs the worker: this is its PID
		first_line "$logs/w$i" "$!" >/dev/null
		addrs+=("$subnet.$((10 + i)):$port")
	done
	server_host=$subnet.1
else
	why=$(tr '\n' ' ' <"$logs/netns")
	echo "bench-distributed: network namespaces unavailable (${why:-unknown reason}): $n workers on loopback instead"
	for ((i = 1; i <= n; i++)); do
		"$BIN/loadtest" worker -parent-pid $$ -listen 127.0.0.1:0 >"$logs/w$i" 2>"$logs/w$i.err" &
		pids+=($!)
		addrs+=("$(first_line "$logs/w$i" "$!")")
	done
fi

list=$(IFS=,; echo "${addrs[*]}")
# Not exec: the trap must stop the workers and remove the namespaces once the run is over.
set +e
"$BIN/loadtest" run -server-bin "$BIN/server" -server-host "$server_host" -workers "$list" "$@"
code=$?
set -e
exit "$code"
