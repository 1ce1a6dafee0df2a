//go:build !openblas || !cgo

package gemm

import "github.com/unroll-ml/unroll/internal/compute"

// Impl returns the name of the implementation in use now, which follows the
// instruction set chosen in internal/compute: "avx512" or "avx2-fma" (the
// assembly micro-kernels for AVX-512 and for AVX2 with FMA), "generic"
// (portable Go) or, in the openblas build, "openblas".
func Impl() string { return kernel32().name }

// openblasBuild reports whether Sgemm and Dgemm call OpenBLAS.
const openblasBuild = false

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm(kernel32(), compute.Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int,
	b []float64, ldb int, beta float64, c []float64, ldc int) {
	gemm(&genericKernel64, compute.Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
