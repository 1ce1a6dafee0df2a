#!/usr/bin/env bash
# Data-parallel training on OpenMPI (bench/mpi): W1 and W2 throughput and the all-reduce's
# share of a step, as 1 process x 2 threads, 2 processes x 1 thread and 4 processes x 1 thread
# (oversubscribed: 4 ranks on 2 cores, to show that it scales in correctness; its speed means
# little). Installs Debian's OpenMPI where missing, builds bench/mpi with -tags mpi, prints
# uptime before and after, and saves the output to bench/results/mpi.txt.
#
#   bench/mpi.sh [RUNS]     RUNS measured runs of each workload and layout (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}

if ! command -v mpirun >/dev/null || ! pkg-config --exists ompi-c 2>/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenmpi-dev openmpi-bin pkg-config
fi
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -tags mpi -o "$bin/mpi" ./bench/mpi
mpi=(mpirun --allow-run-as-root --oversubscribe -x GOMAXPROCS=1)
mkdir -p bench/results
{
	echo "# bench/mpi.sh $runs, $(date -u '+%Y-%m-%d %H:%M UTC'), $(go version | cut -d' ' -f3), $(nproc) cores, OpenMPI $(pkg-config --modversion ompi-c)"
	echo "uptime before: $(uptime)"
	echo "## 1 process x 2 threads"
	GOMAXPROCS=2 "$bin/mpi" -runs "$runs" </dev/null
	echo "## 2 processes x 1 thread (mpirun -np 2)"
	"${mpi[@]}" -np 2 "$bin/mpi" -runs "$runs" </dev/null
	echo "## 4 processes x 1 thread (mpirun -np 4 --oversubscribe, on 2 cores)"
	"${mpi[@]}" -np 4 "$bin/mpi" -runs "$runs" </dev/null
	echo "uptime after: $(uptime)"
} | tee bench/results/mpi.txt
