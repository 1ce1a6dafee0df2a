// Package cblas binds OpenBLAS's cblas_sgemm and cblas_dgemm through cgo.
// It is built only with the build tag openblas (and cgo enabled); otherwise
// it is empty. It needs OpenBLAS's headers and library (Debian:
// libopenblas-dev). The number of OpenBLAS threads is OpenBLAS's own: the
// environment variable OPENBLAS_NUM_THREADS, read when the library loads.
package cblas
