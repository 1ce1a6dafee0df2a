// Package cblas binds OpenBLAS's cblas_sgemm and cblas_dgemm through cgo.
// It is built only with the build tag openblas (and cgo enabled); otherwise
// it is empty. It needs OpenBLAS's headers and library (Debian:
// libopenblas-dev). SetThreads sets the number of OpenBLAS's own threads;
// package gemm sets it to 1 and splits calls in Go.
package cblas
