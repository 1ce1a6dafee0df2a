//go:build openblas && cgo

package gemm

// packedByOpenBLAS reports whether SgemmPacked calls OpenBLAS: only on processors without the
// AVX2 kernel, since the portable one is much slower than OpenBLAS.
func packedByOpenBLAS() bool { return nativeKernel32 == &genericKernel32 }
