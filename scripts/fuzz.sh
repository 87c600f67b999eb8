#!/usr/bin/env bash
# fuzz.sh runs every native Go fuzz target in the repository (each
# "func FuzzXxx" in a _test.go file) for a set time, one after the other,
# and prints a summary table. CI runs only the seed corpora (plain
# "go test", which executes every seed and testdata/fuzz entry); this
# script is for the longer runs.
#
#   scripts/fuzz.sh                 # every target, FUZZTIME each
#   scripts/fuzz.sh tables          # targets whose package or name matches the regexp
#   FUZZTIME=10m scripts/fuzz.sh    # any -fuzztime value: 90s, 10m, 5000x
#
# Environment:
#   FUZZTIME      time (or Nx iterations) per target; default 60s
#   FUZZPARALLEL  fuzzing workers per target (go test -parallel); default
#                 GOMAXPROCS. Set 1 on a shared machine.
#   FUZZMINIMIZETIME  -fuzzminimizetime per target; default 0x (no
#                 minimizing of new corpus entries: the EVTX targets take
#                 64 KiB inputs, and minimizing each stalled a run for
#                 minutes); a crasher is still written whole
#   FUZZLOGDIR    where each target's full output goes; default a new
#                 directory under ${TMPDIR:-/tmp}
#
# A failing input is written by go test to the package's
# testdata/fuzz/FuzzXxx/ directory; the summary names it. Commit it with
# the fix as a regression seed. Exit status: 0 when every target passed,
# 1 otherwise.
set -u
cd "$(dirname "$0")/.." || exit 1

fuzztime=${FUZZTIME:-60s}
case $fuzztime in
*[0-9]) fuzztime=${fuzztime}s ;; # a bare number means seconds
esac
parallel=()
if [ -n "${FUZZPARALLEL:-}" ]; then
	parallel=(-parallel "$FUZZPARALLEL")
fi
logdir=${FUZZLOGDIR:-$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")}
mkdir -p "$logdir"
filter=${1:-.}

# Targets as "package-dir name", found by their declarations.
mapfile -t targets < <(
	grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . |
		sed -E 's|^\./(.*)/[^/]*_test\.go:[0-9]+:func (Fuzz[A-Za-z0-9_]*)\(.*|\1 \2|' |
		sort -u | grep -E -- "$filter"
)
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets match '$filter'" >&2
	exit 1
fi

echo "fuzzing ${#targets[@]} targets, $fuzztime each; logs in $logdir"
rows=()
failed=0
for t in "${targets[@]}"; do
	dir=${t% *}
	name=${t#* }
	log="$logdir/$(echo "$dir" | tr / _)_$name.log"
	echo "== $name ($dir)"
	start=$(date +%s)
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "${FUZZMINIMIZETIME:-0x}" "${parallel[@]}" "./$dir" >"$log" 2>&1
	rc=$?
	took=$(($(date +%s) - start))s
	# The last progress line carries the total executions.
	execs=$(grep -E '^fuzz: elapsed' "$log" | tail -1 | sed -nE 's/.*execs: ([0-9]+).*/\1/p')
	if grep -q 'no fuzz tests to fuzz' "$log"; then
		result="SKIP (not built on this OS)"
	elif [ $rc -eq 0 ]; then
		result=PASS
	else
		failed=1
		input=$(sed -nE 's/.*Failing input written to (.*)/\1/p' "$log" | head -1)
		result="FAIL${input:+: $input}"
		tail -20 "$log" | sed 's/^/    /'
	fi
	rows+=("$name|$dir|$took|${execs:--}|$result")
done

echo
printf '%-28s %-26s %8s %12s  %s\n' TARGET PACKAGE TIME EXECS RESULT
for r in "${rows[@]}"; do
	IFS='|' read -r name dir took execs result <<<"$r"
	printf '%-28s %-26s %8s %12s  %s\n' "$name" "$dir" "$took" "$execs" "$result"
done
exit $failed
