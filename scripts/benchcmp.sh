#!/usr/bin/env bash
# benchcmp.sh compares Go benchmarks of this checkout with another commit,
# side by side in one run: the two trees are benchmarked in turn, COUNT
# rounds each, so both see the same machine load, and benchstat prints the
# ratios.
#
#   scripts/benchcmp.sh BASE [PACKAGES] [BENCH]
#   scripts/benchcmp.sh main "./store/ ./tables/" 'Add|Scan|Generate|BytesPerRow'
#   COUNT=10 scripts/benchcmp.sh HEAD~3
#
# BASE is any commit; PACKAGES defaults to "./store/ ./tables/" and BENCH to
# "." (every benchmark). benchstat comes from golang.org/x/perf at a pinned
# version (go run fetches it once through the module proxy). The raw results
# stay in $OUT (default a temporary directory) as base.txt and head.txt.
set -euo pipefail

base=${1:?usage: scripts/benchcmp.sh BASE [PACKAGES] [BENCH]}
pkgs=${2:-./store/ ./tables/}
bench=${3:-.}
count=${COUNT:-5}
benchtime=${BENCHTIME:-1s}
benchstat=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

root=$(git rev-parse --show-toplevel)
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
tree=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tree" >/dev/null 2>&1 || true' EXIT
git -C "$root" worktree add --quiet --detach "$tree" "$base"

run() { # dir file
	(cd "$1" && go test -run '^$' -bench "$bench" -benchmem -count 1 -benchtime "$benchtime" $pkgs) | grep -E '^(Benchmark|goos|goarch|pkg|cpu)' >>"$2"
}
: >"$out/base.txt"
: >"$out/head.txt"
for i in $(seq "$count"); do
	echo "round $i/$count" >&2
	run "$tree" "$out/base.txt"
	run "$root" "$out/head.txt"
done
echo "raw results: $out/base.txt (base $(git -C "$root" rev-parse --short "$base")), $out/head.txt (this checkout)" >&2
go run "$benchstat" base="$out/base.txt" head="$out/head.txt"
