#!/usr/bin/env bash
# Prints the single-threaded GFLOP/s of the native Sgemm beside OpenBLAS's
# on the workloads' matrix shapes, measured alternately in one process, and
# the per-shape ratio. Needs cgo and OpenBLAS (Debian: libopenblas-dev).
#
#   nodes/gemm/compare.sh [-gemm.pairs=N] [-gemm.mintime=D]
#
# Then, for the active implementation on one and on all goroutines:
#   go test -run '^$' -bench Sgemm ./nodes/gemm/
#   OPENBLAS_NUM_THREADS=1 go test -tags openblas -run '^$' -bench Sgemm ./nodes/gemm/
set -euo pipefail
cd "$(dirname "$0")"
OPENBLAS_NUM_THREADS=1 exec go test -count=1 -v -tags openblas -run '^TestCompareOpenBLAS$' . \
	-args -gemm.compare "$@"
