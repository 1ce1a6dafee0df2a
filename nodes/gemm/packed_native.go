//go:build !openblas || !cgo

package gemm

// packedByOpenBLAS reports whether SgemmPacked calls OpenBLAS when kern is in use: never
// without the openblas build.
func packedByOpenBLAS(kern *kernel[float32]) bool { return false }
