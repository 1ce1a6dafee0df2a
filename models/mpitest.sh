#!/usr/bin/env bash
# Tests data-parallel training of the models on OpenMPI: installs Debian's libopenmpi-dev and
# openmpi-bin where they are missing, builds the test binaries of models/cnn and models/rnn
# with -tags mpi, and runs their TestMPI* tests under mpirun with 2 ranks: 2 ranks with
# batches of 32 train W1 and the W2 language model to what 1 process trains with batches of
# 64 (float64 and float32), with one all-reduce per gradient bucket; a checkpoint of 2 ranks
# resumes exactly under 2 and is refused by 1. Then TestMPIKilledRank starts mpirun itself and
# kills a rank in mid-training: the job must end non-zero within seconds and leave a whole
# checkpoint. Each rank runs on one thread (GOMAXPROCS=1), two ranks on two cores. Prints the
# time of each step; exits non-zero if any fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mpirun >/dev/null || ! pkg-config --exists ompi-c 2>/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenmpi-dev openmpi-bin pkg-config
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
# timed LABEL COMMAND...: runs the command and prints its time.
timed() {
	local label=$1 start
	shift
	start=$(date +%s%N)
	"$@"
	echo "--- ${label}: $((($(date +%s%N) - start) / 1000000)) ms"
}
mpi=(mpirun --allow-run-as-root --oversubscribe -x GOMAXPROCS=1)
export GOMAXPROCS=1

for pkg in cnn rnn; do
	timed "build models/$pkg (go test -c -tags mpi)" env -u GOMAXPROCS go test -c -tags mpi -o "$bin/$pkg.test" "./models/$pkg/"
done
# -test.timeout turns a hang into a failure (and mpirun then stops the job); timeout guards
# against a hang of mpirun itself.
for pkg in cnn rnn; do
	timed "models/$pkg, mpirun -np 2" timeout 300 "${mpi[@]}" -np 2 "$bin/$pkg.test" \
		-test.run '^TestMPI' -test.skip 'KilledRank' -test.timeout 240s -test.v
done
timed "a killed rank" timeout 180 "$bin/cnn.test" -test.run '^TestMPIKilledRank$' -test.v -mpirun
