#!/usr/bin/env bash
# readme-table.sh [RUN_DIR]
#
# Writes the README's sample verdict table (between the sample-table markers) from a run folder
# (default bench-results/latest), with the commit and date it measured. It refuses a run of a
# dirty tree or a partial run (exit 2): the README shows what a checkout of that commit gives.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-bench-results/latest}
summary=$dir/summary.json
[[ -f $summary ]] || { echo "readme-table: $summary not found: run make bench first" >&2; exit 2; }
# Fields joined by \x1f, not tabs: read collapses runs of whitespace separators, so an empty
# commit would shift every field after it.
IFS=$'\x1f' read -r commit dirty partial profile started < <(jq -r '[.env.commit // "", .env.dirty // false, .partial // false,
	.settings.profile // "", (.started_at // "")[:10]] | map(tostring) | join("\u001f")' "$summary")
[[ -n $commit ]] || { echo "readme-table: $summary names no commit (built outside git, or in a git worktree, which go build does not stamp?)" >&2; exit 2; }
[[ $dirty != true ]] || { echo "readme-table: $dir measured a dirty tree at ${commit:0:7}: commit first, then make bench" >&2; exit 2; }
[[ $partial != true ]] || { echo "readme-table: $dir is a partial run" >&2; exit 2; }
[[ -z $profile || $profile == default || $profile == full ]] || { echo "readme-table: $dir ran profile $profile; the README shows make bench's default" >&2; exit 2; }
# The verdict table alone: from its header to the first line that is not a scenario's.
table=$(bin/loadtest report "$dir" | awk '/^VERDICT / { on = 1 } on && (/^$/ || /^run folder:/ || /^reports:/) { exit } on')

block=$(mktemp)
trap 'rm -f "$block"' EXIT
{
	echo '<!-- sample-table:start (written by make readme-table; do not edit) -->'
	echo '```'
	printf '%s\n' "$table"
	echo '```'
	echo "(\`make bench\` at commit ${commit:0:7} on $started; \`make readme-table\` rewrote this block from that run.)"
	echo '<!-- sample-table:end -->'
} >"$block"
awk -v block="$block" '
	/^<!-- sample-table:start/ { while ((getline l < block) > 0) print l; skip = 1; found = 1; next }
	/^<!-- sample-table:end/ { skip = 0; next }
	!skip { print }
	END { if (!found) exit 3 }
' README.md >README.md.tmp || { rm -f README.md.tmp; echo "readme-table: README.md has no sample-table markers" >&2; exit 2; }
mv README.md.tmp README.md
echo "README.md: sample table from $dir (commit ${commit:0:7})"
