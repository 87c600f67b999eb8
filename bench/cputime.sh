#!/usr/bin/env bash
# cputime.sh compares one Go benchmark between two commits by the user CPU
# time of a fixed number of iterations, run interleaved. On a shared,
# overloaded machine the ns/op of `go test -bench` measures the scheduler;
# CPU time measures the code.
#
#   bench/cputime.sh OLD_REV NEW_REV PACKAGE BENCH_REGEXP ITERATIONS [RUNS]
#   bench/cputime.sh main~1 HEAD ./detector/ 'Match/strict$' 100000000 9
#
# Prints the median and minimum user CPU seconds for each revision and the
# ratio of the medians (new/old). Needs git, go and GNU time (/usr/bin/time).
set -euo pipefail
[ $# -ge 5 ] || { sed -n '2,11p' "$0"; exit 2; }
old=$1 new=$2 pkg=$3 bench=$4 n=$5 runs=${6:-9}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for side in old new; do
  rev=${!side}
  git -C "$root" archive --format=tar "$rev" | tar -x -C "$work" --one-top-level="$side"
  (cd "$work/$side" && go test -c -o "$work/$side.test" "$pkg")
done
for i in $(seq 1 "$runs"); do
  for side in old new; do
    /usr/bin/time -f %U -o "$work/t" "$work/$side.test" -test.run '^$' -test.bench "$bench" -test.benchtime "${n}x" >/dev/null
    cat "$work/t" >> "$work/$side.cpu"
  done
done
stats() { sort -n "$1" | awk '{a[NR]=$1} END{printf "%s %s\n", a[int((NR+1)/2)], a[1]}'; }
read -r om omin < <(stats "$work/old.cpu")
read -r nm nmin < <(stats "$work/new.cpu")
echo "$bench x$n, $runs runs: $old median ${om}s (min ${omin}s); $new median ${nm}s (min ${nmin}s); new/old $(awk -v a="$nm" -v b="$om" 'BEGIN{printf "%.3f", a/b}')"
