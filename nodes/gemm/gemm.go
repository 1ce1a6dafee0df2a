package gemm

import "fmt"

// Sgemm computes C = alpha*op(A)*op(B) + beta*C in single precision, where
// op(X) is X, or X transposed when transX is true, op(A) is m x k, op(B) is
// k x n and C is m x n. All matrices are row-major: element (i, j) of a
// matrix with leading dimension ld is at index i*ld+j of its slice, and A
// is stored as m x k (k x m when transA), B as k x n (n x k when transB).
//
// When beta is zero C is only written, so NaN or Inf in C do not propagate;
// when alpha is zero or k is zero A and B are not read.
//
// Sgemm panics on invalid arguments: a negative size, a leading dimension
// smaller than the stored row, or a slice too short for the matrix it holds.
// These are programming errors; layers validate their shapes first and
// return errors.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	checked("Sgemm", sgemm, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is Sgemm in double precision. It favours exactness of meaning over
// speed: it serves gradient checks and reference computations.
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int,
	b []float64, ldb int, beta float64, c []float64, ldc int) {
	checked("Dgemm", dgemm, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmFunc is the signature of Sgemm and Dgemm, and of what computes them.
type gemmFunc[T float] func(transA, transB bool, m, n, k int, alpha T, a []T, lda int,
	b []T, ldb int, beta T, c []T, ldc int)

// checked calls run, the computation behind the exported fn, once the
// arguments are checked (checkArgs) and C is not empty.
func checked[T float](fn string, run gemmFunc[T], transA, transB bool, m, n, k int, alpha T,
	a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	checkArgs(fn, transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkArgs panics unless the arguments describe matrices that lie inside
// their slices.
func checkArgs(fn string, transA, transB bool, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: %s: negative size m=%d n=%d k=%d", fn, m, n, k))
	}
	// Stored shapes: A is rowsA x colsA, B is rowsB x colsB.
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	checkMatrix(fn, "a", rowsA, colsA, lenA, lda, m > 0 && n > 0 && k > 0)
	checkMatrix(fn, "b", rowsB, colsB, lenB, ldb, m > 0 && n > 0 && k > 0)
	checkMatrix(fn, "c", m, n, lenC, ldc, m > 0 && n > 0)
}

func checkMatrix(fn, name string, rows, cols, length, ld int, used bool) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: %s: ld%s=%d, need at least %d (%d x %d stored)",
			fn, name, ld, max(1, cols), rows, cols))
	}
	if !used {
		return
	}
	if need := (rows-1)*ld + cols; length < need {
		panic(fmt.Sprintf("gemm: %s: len(%s)=%d, need at least %d (%d x %d, ld %d)",
			fn, name, length, need, rows, cols, ld))
	}
}
