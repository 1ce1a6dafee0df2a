//go:build openblas && cgo

package gemm

// packedByOpenBLAS reports whether SgemmPacked calls OpenBLAS when kern is in use: only with
// the portable kernel, which is much slower than OpenBLAS.
func packedByOpenBLAS(kern *kernel[float32]) bool { return kern == &genericKernel32 }
