//go:build !openblas || !cgo

package gemm

import "github.com/unroll-ml/unroll/internal/compute"

// Impl returns the name of the implementation in use: "avx2-fma" (the
// assembly micro-kernel, on amd64 processors with AVX2 and FMA), "generic"
// (portable Go) or, in the openblas build, "openblas".
func Impl() string { return nativeKernel32.name }

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm(nativeKernel32, compute.Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int,
	b []float64, ldb int, beta float64, c []float64, ldc int) {
	gemm(nativeKernel64, compute.Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
