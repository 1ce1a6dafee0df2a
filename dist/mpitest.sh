#!/usr/bin/env bash
# Tests package dist on OpenMPI: installs Debian's libopenmpi-dev and openmpi-bin where they
# are missing, builds the test binary with -tags mpi, runs it under mpirun with 2, 3 and 4
# ranks, then runs TestRankFailure, which starts mpirun itself: a rank that exits, is killed,
# panics or aborts while the other waits in an all-reduce must end the job with a non-zero
# status within seconds. Prints the time of each step; exits non-zero if any fails.
#
#   dist/mpitest.sh          the tests (CI's stage "mpi")
#   dist/mpitest.sh bench    the all-reduce benchmark (1, 4 and 16 MiB of float32) between
#                            2 ranks, 200 iterations, 3 runs; prints rank 0's output
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mpirun >/dev/null || ! pkg-config --exists ompi-c 2>/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenmpi-dev openmpi-bin pkg-config
fi

bin=$(mktemp -d)/dist.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
# timed LABEL COMMAND...: runs the command and prints its time.
timed() {
	local label=$1 start
	shift
	start=$(date +%s%N)
	"$@"
	echo "--- ${label}: $((($(date +%s%N) - start) / 1000000)) ms"
}
timed "build (go test -c -tags mpi)" go test -c -tags mpi -o "$bin" ./dist/
mpi=(mpirun --allow-run-as-root --oversubscribe)

if [ "${1:-}" = bench ]; then
	uptime
	# Only rank 0 prints; the benchmark needs a fixed count, the same on every rank.
	"${mpi[@]}" -np 2 sh -c 'if [ "$OMPI_COMM_WORLD_RANK" = 0 ]; then exec "$@"; else exec "$@" >/dev/null; fi' \
		sh "$bin" -test.run '^$' -test.bench AllReduceSum32 -test.benchtime 200x -test.count 3
	uptime
	exit 0
fi

# The example expects to be alone; -test.timeout turns a hang into a failure (and mpirun then
# stops the job), timeout guards against a hang of mpirun itself.
for np in 2 3 4; do
	timed "tests, mpirun -np $np" timeout 180 "${mpi[@]}" -np "$np" "$bin" -test.skip '^Example' -test.timeout 60s
done
timed "failing ranks" timeout 180 "$bin" -test.run '^TestRankFailure$' -test.v -mpirun
