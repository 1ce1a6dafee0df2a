#!/usr/bin/env bash
# Fuzzes every parser of outside data for a set time each: the IDX reader, the checkpoint
# loader (the whole graph.LoadCheckpoint path, and the safetensors decoder under it), the
# time-series CSV reader, the character vocabulary and the batch iterators' checkpointed
# positions. Seed corpora live in each package's testdata/fuzz/<target>.
#
#   bench/fuzz.sh [duration] [target ...]     (default: 5m, every target)
#
# duration is go test's -fuzztime: 5m, 30s, or a count of executions such as 2000x, which CI
# uses (with Go 1.26 a duration can end in a spurious "context deadline exceeded",
# go.dev/issue/75804; this script recognises it and says so). FUZZ_JOBS targets run at once
# (default 2), each with one worker; logs go to $FUZZ_OUT (default /tmp/unroll-fuzz).
# Temporary files go to /dev/shm when it exists, since the checkpoint target writes a file per
# input. Minimisation of new inputs is capped at 10 runs, so that the executions counted are
# fuzzing.
#
# Prints per target the executions, the new interesting inputs, the peak resident set size of
# the fuzzing processes and the outcome; exits 1 if any target failed (a crash, a hang past
# its time plus ten minutes, or an input that broke an invariant: the log shows the input,
# written under the package's testdata/fuzz/<target> for `go test -run=<target>/<file>`).
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${1:-5m}
shift || true
out=${FUZZ_OUT:-/tmp/unroll-fuzz}
jobs=${FUZZ_JOBS:-2}
mkdir -p "$out"

all="data:FuzzReadIDX graph:FuzzLoadCheckpoint graph:FuzzCheckpointFlips graph:FuzzCheckpointMeta data:FuzzParseSeriesCSV data:FuzzVocab graph:FuzzDecodeSafetensors data:FuzzIteratorState data:FuzzDecodeImage data:FuzzParseImageCSV data:FuzzSequencesState"
targets=()
if [ $# -eq 0 ]; then
	read -r -a targets <<<"$all"
else
	for name in "$@"; do
		found=""
		for t in $all; do
			[ "${t#*:}" = "$name" ] && found=$t
		done
		if [ -z "$found" ]; then
			echo "unknown target $name; targets: $all" >&2
			exit 2
		fi
		targets+=("$found")
	done
fi

tmp=${TMPDIR:-/tmp}
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	tmp=/dev/shm
fi
timer=()
if [ -x /usr/bin/time ]; then
	timer=(/usr/bin/time -v)
fi

# Build each package's test binary with the fuzzing instrumentation once, before the clock
# starts, and run it directly: the peak resident set size measured is then the fuzzer's own.
module=$(go list -m)
cache=$(go env GOCACHE)/fuzz
for pkg in data graph; do
	go test -c -fuzz . -o "$out/$pkg.fuzz" "./$pkg/"
done

run_target() {
	local pkg=${1%%:*} name=${1#*:}
	local log=$out/$name.log
	local start rc
	start=$(date +%s)
	(ls "$pkg/testdata/fuzz/$name" 2>/dev/null || true) | sort >"$out/$name.corpus-before"
	set +e
	(cd "$pkg" && TMPDIR=$tmp timeout --signal=KILL "$(timeout_for "$fuzztime")" \
		"${timer[@]}" "$out/$pkg.fuzz" -test.run='^$' -test.fuzz="^${name}\$" -test.fuzztime="$fuzztime" \
		-test.fuzzminimizetime=10x -test.parallel=1 -test.timeout=0 \
		-test.fuzzcachedir="$cache/$module/$pkg") >"$log" 2>&1
	rc=$?
	set -e
	echo "$rc $(($(date +%s) - start))" >"$out/$name.status"
}

# timeout_for gives a time fuzzing for d must end by: d plus ten minutes for executions of a
# count (10000x) or anything unparsed.
timeout_for() {
	local d=$1
	case $d in
	*h) echo $((${d%h} * 3600 + 600)) ;;
	*m) echo $((${d%m} * 60 + 600)) ;;
	*s) echo $((${d%s} + 600)) ;;
	*) echo 3600 ;;
	esac
}

running=0
for t in "${targets[@]}"; do
	run_target "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n || true
		running=$((running - 1))
	fi
done
wait

status=0
printf '%-24s %8s %12s %12s %10s  %s\n' target seconds executions interesting "peak RSS" result
for t in "${targets[@]}"; do
	name=${t#*:}
	log=$out/$name.log
	read -r rc secs <"$out/$name.status"
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | awk '{print $2}')
	interesting=$(grep -o 'new interesting: [0-9]*' "$log" | tail -1 | awk '{print $3}')
	rss=$(grep 'Maximum resident set size' "$log" | awk '{printf "%.0f MiB", $6/1024}')
	result=ok
	pkg=${t%%:*}
	added=$( (ls "$pkg/testdata/fuzz/$name" 2>/dev/null || true) | sort | comm -13 "$out/$name.corpus-before" - | tr '\n' ' ')
	if [ "$rc" != 0 ]; then
		if [ -z "$added" ] && grep -q '^    context deadline exceeded$' "$log" && ! grep -q -- '--- FAIL: .*/' "$log"; then
			# Go 1.26's fuzz coordinator can report its own -fuzztime deadline as a failure
			# (go.dev/issue/75804); no input failed and none was written.
			result="ok (go.dev/issue/75804: the deadline reported as a failure, no failing input)"
		else
			result="FAILED (exit $rc, see $log; new inputs: ${added:-none})"
			status=1
		fi
	fi
	printf '%-24s %8s %12s %12s %10s  %s\n' "$name" "$secs" "${execs:-?}" "${interesting:-?}" "${rss:-?}" "$result"
done
exit $status
