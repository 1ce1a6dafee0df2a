//go:build openblas && cgo

package gemm

import (
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/nodes/gemm/internal/cblas"
)

// Impl returns the name of the implementation in use: "openblas" in this
// build.
func Impl() string { return "openblas" }

// openblasBuild reports whether Sgemm and Dgemm call OpenBLAS.
const openblasBuild = true

// OpenBLAS runs single-threaded; a call is split into parts of C in Go instead,
// one cblas call per part, the parts shared among compute.Threads() goroutines.
// OpenBLAS's own threads spin between calls and took the cores from the
// goroutines of the loops around them: W4 took 22.5 ms with two OpenBLAS
// threads and 20.4 ms with one, against 17 ms for the native build (16 ms now).
//
// The parts are cut for openblasParts goroutines whatever the number of
// threads or cores: OpenBLAS's sums depend on the shape of the part it is
// given, and the result of a call must not depend on how many threads run it.
func init() { cblas.SetThreads(1) }

// openblasParts is the number of threads the parts of a call are cut for.
const openblasParts = 2

// openblasGrid is the tile grid along which single-precision calls are cut
// into parts (that of the AVX2 kernel): fixed, so that the parts, and so the
// results, do not depend on the instruction set chosen.
var openblasGrid = kernel[float32]{mr: 6, nr: 16, mc: 144, kc: 384, nc: 3072}

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	inOpenBLAS(&openblasGrid, cblas.Sgemm, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int,
	b []float64, ldb int, beta float64, c []float64, ldc int) {
	inOpenBLAS(&genericKernel64, cblas.Dgemm, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// inOpenBLAS computes a call in parts cut along the tile grid of kern, one
// call of call (cblas.Sgemm or cblas.Dgemm) a part.
func inOpenBLAS[T float](kern *kernel[T], call gemmFunc[T], transA, transB bool, m, n, k int,
	alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	pm, pn := partition(m, n, k, kern, openblasParts)
	inParts(pm, pn, m, n, kern.mr, kern.nr, func(i0, i1, j0, j1 int) {
		ao, bo := operandOffsets(transA, transB, i0, j0, lda, ldb)
		call(transA, transB, i1-i0, j1-j0, k, alpha, a[ao:], lda, b[bo:], ldb, beta, c[i0*ldc+j0:], ldc)
	})
}

// operandOffsets returns where row i0 of op(A) and column j0 of op(B) start in
// the row-major storage of A and B.
func operandOffsets(transA, transB bool, i0, j0, lda, ldb int) (ao, bo int) {
	ao, bo = i0*lda, j0
	if transA {
		ao = i0 // op(A) = Aᵀ: row i0 of op(A) is column i0 of A
	}
	if transB {
		bo = j0 * ldb
	}
	return ao, bo
}

// inParts calls part on the pm x pn parts of an m x n matrix (bounds on the
// mr x nr tile grid, as the native driver cuts it), shared among up to
// compute.Threads() goroutines, the caller's one of them.
func inParts(pm, pn, m, n, mr, nr int, part func(i0, i1, j0, j1 int)) {
	compute.Parts(pm*pn, func(p int) {
		i0, i1 := span(p/pn, pm, m, mr)
		j0, j1 := span(p%pn, pn, n, nr)
		if i0 < i1 && j0 < j1 {
			part(i0, i1, j0, j1)
		}
	})
}
