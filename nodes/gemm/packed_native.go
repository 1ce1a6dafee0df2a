//go:build !openblas || !cgo

package gemm

// packedByOpenBLAS reports whether SgemmPacked calls OpenBLAS: never without the openblas build.
func packedByOpenBLAS() bool { return false }
