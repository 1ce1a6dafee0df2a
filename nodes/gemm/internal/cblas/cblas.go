//go:build openblas && cgo

package cblas

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// checkInt panics if a size or leading dimension does not fit OpenBLAS's
// integer type (32 bits in Debian's build).
func checkInt(vals ...int) {
	limit := int64(math.MaxInt32)
	if unsafe.Sizeof(C.blasint(0)) == 8 {
		limit = math.MaxInt64
	}
	for _, v := range vals {
		if int64(v) > limit {
			panic(fmt.Sprintf("gemm: OpenBLAS: %d exceeds its integer range", v))
		}
	}
}

// Sgemm calls cblas_sgemm in row-major order. The caller has checked the
// arguments; m, n and k are at least 1.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkInt(m, n, k, lda, ldb, ldc)
	C.cblas_sgemm(C.CblasRowMajor, trans(transA), trans(transB),
		C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(&a[0]), C.blasint(lda),
		(*C.float)(&b[0]), C.blasint(ldb),
		C.float(beta), (*C.float)(&c[0]), C.blasint(ldc))
}

// Dgemm calls cblas_dgemm in row-major order. The caller has checked the
// arguments; m, n and k are at least 1.
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int,
	b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkInt(m, n, k, lda, ldb, ldc)
	C.cblas_dgemm(C.CblasRowMajor, trans(transA), trans(transB),
		C.blasint(m), C.blasint(n), C.blasint(k),
		C.double(alpha), (*C.double)(&a[0]), C.blasint(lda),
		(*C.double)(&b[0]), C.blasint(ldb),
		C.double(beta), (*C.double)(&c[0]), C.blasint(ldc))
}

// SetThreads sets the number of threads OpenBLAS uses.
func SetThreads(n int) { C.openblas_set_num_threads(C.int(n)) }

// Threads returns the number of threads OpenBLAS uses.
func Threads() int { return int(C.openblas_get_num_threads()) }

// Core returns the name of the processor core OpenBLAS chose its kernels for.
func Core() string { return C.GoString(C.openblas_get_corename()) }

func trans(t bool) C.enum_CBLAS_TRANSPOSE {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}
