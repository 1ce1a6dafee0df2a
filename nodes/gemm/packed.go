package gemm

import (
	"fmt"

	"github.com/unroll-ml/unroll/internal/compute"
)

// PackedB is the right operand op(B) of C = alpha·op(A)·op(B) + beta·C packed once, for many
// products with the same B: the weight matrix of a recurrent layer, multiplied step after
// step by a few rows of state. SgemmPacked then packs only A, and its result is bit-identical
// to the native Sgemm's with the same operands, whatever the number of threads.
//
// The packing is that of the native kernel in use when Pack runs (see Impl), and p records
// which. If the instruction set changes afterwards (compute.SetISA, in tests and benchmarks),
// the packing no longer fits the kernel in use: SgemmPacked then computes the product from
// the unpacked B, as Sgemm does, with the same bits and without changing p, until Pack is
// called again.
//
// The packing is the native kernel's also in the openblas build, on processors with AVX2 and
// FMA: on the few-row products it serves it is about as fast as OpenBLAS on one core, and it
// runs on unroll's threads rather than OpenBLAS's, which spin between calls and take the
// cores from the rest of a step. Where only the portable kernel runs, the openblas build
// keeps the operand as it is and SgemmPacked calls OpenBLAS.
//
// Pack again whenever B changes, and leave B unchanged until then (SgemmPacked may read
// it). A PackedB may serve any number of SgemmPacked calls at once; Pack must not run
// concurrently with them.
type PackedB struct {
	transB bool
	k, n   int
	b      []float32
	ldb    int
	kern   *kernel[float32] // the kernel the packing is for; nil when B is not packed
	kc     int              // the inner blocking Sgemm would choose for k with kern
	data   []float32        // the native packing (see packNative)
}

// K is the number of rows of op(B), k x n, as packed.
func (p *PackedB) K() int { return p.k }

// N is the number of columns of op(B).
func (p *PackedB) N() int { return p.n }

// Pack packs op(B), k x n (stored n x k when transB), into p, reusing p's memory. It panics
// on invalid arguments, as Sgemm does.
func (p *PackedB) Pack(transB bool, k, n int, b []float32, ldb int) {
	rows, cols := k, n
	if transB {
		rows, cols = n, k
	}
	if k < 0 || n < 0 {
		panic(fmt.Sprintf("gemm: PackedB.Pack: negative size k=%d n=%d", k, n))
	}
	checkMatrix("PackedB.Pack", "b", rows, cols, len(b), ldb, k > 0 && n > 0)
	p.transB, p.k, p.n, p.b, p.ldb = transB, k, n, b, ldb
	p.kern = nil
	if kern := kernel32(); !packedByOpenBLAS(kern) {
		packNative(p, kern)
	}
}

// SgemmPacked computes C = alpha·op(A)·op(B) + beta·C in single precision with op(B) packed in
// p: op(A) is m x p.K() (stored p.K() x m when transA) and C m x p.N(), row-major as in Sgemm,
// on up to Threads() goroutines. It panics on invalid arguments, as Sgemm does.
func SgemmPacked(transA bool, m int, alpha float32, a []float32, lda int, p *PackedB, beta float32, c []float32, ldc int) {
	if p == nil {
		panic("gemm: SgemmPacked: nil PackedB")
	}
	// B was checked by Pack.
	rowsA, colsA := m, p.k
	if transA {
		rowsA, colsA = p.k, m
	}
	if m < 0 {
		panic(fmt.Sprintf("gemm: SgemmPacked: negative size m=%d", m))
	}
	checkMatrix("SgemmPacked", "a", rowsA, colsA, len(a), lda, m > 0 && p.n > 0 && p.k > 0)
	checkMatrix("SgemmPacked", "c", m, p.n, len(c), ldc, m > 0 && p.n > 0)
	if m == 0 || p.n == 0 {
		return
	}
	switch kern := kernel32(); {
	case packedByOpenBLAS(kern):
		sgemm(transA, p.transB, m, p.n, p.k, alpha, a, lda, p.b, p.ldb, beta, c, ldc)
	case kern != p.kern:
		// Packed for another instruction set: the same product from B itself.
		gemm(kern, compute.Threads(), transA, p.transB, m, p.n, p.k, alpha, a, lda, p.b, p.ldb, beta, c, ldc)
	default:
		sgemmPackedNative(transA, m, alpha, a, lda, p, beta, c, ldc)
	}
}
