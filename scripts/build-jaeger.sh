#!/usr/bin/env bash
# build-jaeger.sh [OUT]
#
# Builds Jaeger v2 (github.com/jaegertracing/jaeger cmd/jaeger, pinned in the separate module
# tools/jaeger so that its hundreds of dependencies never enter the project's go.mod) to OUT
# (default .bin/jaeger). Skips the build when OUT is newer than the tools module's go.mod and
# go.sum: linking the 120 MB binary again costs ~10 s even with a warm build cache. The first
# build on a fresh machine downloads the modules and takes ~3-4 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/.bin/jaeger}
mod=$root/tools/jaeger

if [[ -x "$out" && "$out" -nt "$mod/go.mod" && "$out" -nt "$mod/go.sum" ]]; then
	exit 0
fi
if ! command -v go >/dev/null 2>&1; then
	echo "build-jaeger: go is not on PATH" >&2
	exit 2
fi
mkdir -p "$(dirname "$out")"
echo "build-jaeger: building Jaeger from tools/jaeger (first time: a few minutes)" >&2
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# GOWORK=off: a go.work somewhere above must not pull the tools module into the project's build.
if ! (cd "$mod" && GOWORK=off go build -o "$tmp" github.com/jaegertracing/jaeger/cmd/jaeger); then
	echo "build-jaeger: go build of github.com/jaegertracing/jaeger/cmd/jaeger failed (module proxy reachable? see above)" >&2
	exit 2
fi
mv "$tmp" "$out"
