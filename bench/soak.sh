#!/usr/bin/env bash
# Memory soak: trains the W1 and/or W2 workload (bench/WORKLOADS.md) for many steps, writing a
# checkpoint every 500 steps, and samples the resident set size every 100 steps; fails when the
# resident set grows more than 5% after the warm-up. Not a CI stage: 10,000 steps of W2 take
# about an hour on two shared cores.
#
#   bench/soak.sh [w1|w2|all] [steps]     (default: all 10000)
#
# Writes soak-<workload>.csv and soak-<workload>.log under $SOAK_OUT (default /tmp/unroll-soak)
# and prints each run's summary.
set -euo pipefail
cd "$(dirname "$0")/.."

which=${1:-all}
steps=${2:-10000}
out=${SOAK_OUT:-/tmp/unroll-soak}
warmup=${SOAK_WARMUP:-1000}
mkdir -p "$out"
go build -o "$out/soak" ./bench/soak

case $which in
all) workloads="w1 w2" ;;
w1 | w2) workloads=$which ;;
*)
	echo "usage: bench/soak.sh [w1|w2|all] [steps]" >&2
	exit 2
	;;
esac

status=0
for w in $workloads; do
	echo "=== soak $w: $steps steps (log $out/soak-$w.log)"
	if ! "$out/soak" -workload "$w" -steps "$steps" -warmup "$warmup" -csv "$out/soak-$w.csv" >"$out/soak-$w.log" 2>&1; then
		status=1
	fi
	# The summary: the lines after the last sample.
	sed -n '/^$/,$p' "$out/soak-$w.log"
done
exit $status
