#!/usr/bin/env bash
# Prints the single-threaded GFLOP/s of the native Sgemm beside OpenBLAS's
# on the workloads' matrix shapes, measured alternately in one process, and
# the per-shape ratio. Needs cgo and OpenBLAS (Debian: libopenblas-dev).
#
#   nodes/gemm/compare.sh [-gemm.pairs=N] [-gemm.mintime=D] [-gemm.isa=avx2|avx512|generic]
#
# The native kernel is the best this machine runs (avx512 where there is AVX-512), or the
# one -gemm.isa names.
#
# Then, for each native path and OpenBLAS on one and on all goroutines:
#   go test -run '^$' -bench 'Sgemm$|Sgemm2048' ./nodes/gemm/
#   OPENBLAS_NUM_THREADS=1 go test -tags openblas -run '^$' -bench 'Sgemm$|Sgemm2048' ./nodes/gemm/
set -euo pipefail
cd "$(dirname "$0")"
OPENBLAS_NUM_THREADS=1 exec go test -count=1 -v -tags openblas -run '^TestCompareOpenBLAS$' . \
	-args -gemm.compare "$@"
