#!/usr/bin/env bash
# Compare tsclientwatch with a Velocidex/evtx full parse, libyal's
# evtxexport and encoding/json, on the same files, in one run, and print a
# Markdown table (docs/performance.md holds the latest one).
#
# Usage: bench/compare.sh [compare flags...]   e.g. -repeat 5 -scale 10,100
# Generated data (NDJSON, scaled EVTX) goes to bench/out/ (gitignored) and
# is reused by later runs. Needs Go and, for its row, evtxexport
# (apt-get install -y libevtx-utils).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out

echo "building..." >&2
go build -o bench/out/compare ./bench/cmd/compare
if [ -d cmd/tsclientwatch ] && go build -o bench/out/tsclientwatch ./cmd/tsclientwatch; then
	:
else
	echo "cmd/tsclientwatch does not build: its NDJSON row will be skipped" >&2
	rm -f bench/out/tsclientwatch
fi
command -v evtxexport >/dev/null || echo "evtxexport missing (apt-get install -y libevtx-utils): its row will be skipped" >&2

# The machine the numbers come from.
{
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r), $(go version | cut -d' ' -f3-)"
	echo "- command: bench/compare.sh $*"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
} | tee bench/out/results.md

bench/out/compare -tsclientwatch bench/out/tsclientwatch "$@" | tee -a bench/out/results.md
