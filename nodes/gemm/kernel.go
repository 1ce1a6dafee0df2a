package gemm

import "github.com/unroll-ml/unroll/internal/compute"

// float is the element type of the native driver.
type float interface {
	float32 | float64
}

// kernel describes a micro-kernel and the cache blocking that suits it.
type kernel[T float] struct {
	name string
	// mr x nr is the register tile of C that one call of fn updates.
	mr, nr int
	// mc, kc, nc are the largest blocks of C rows, of the inner dimension
	// and of C columns that are packed at once (mc a multiple of mr, nc a
	// multiple of nr).
	mc, kc, nc int
	// fn computes the mr x nr tile c = alpha*ap*bp + beta*c from k packed
	// columns of A (mr values each) and k packed rows of B (nr values
	// each); c has row stride ldc. With beta == 0 it must not read c.
	// k is at least 1.
	fn func(k int, ap, bp, c []T, ldc int, alpha, beta T)
	// fused reports that fn (and edge and direct) sum with fused
	// multiply-adds in a fixed way:
	// for each block of k it starts from zero, adds the products in
	// increasing k with one rounding each, scales by alpha (one rounding)
	// and adds beta*c with one rounding. Fused kernels with the same kc give
	// the same bits (see the tests' fusedReference).
	fused bool
	// edge, if set, is fn for a tile that the edge of C cuts: it writes only
	// rows 0..rows-1 and columns 0..cols-1 of c (1 <= rows <= mr, 1 <= cols
	// <= nr) and reads no other element of c. When nil, such a tile is
	// computed by fn in a scratch tile and copied.
	edge func(k int, ap, bp, c []T, ldc int, alpha, beta T, rows, cols int)
	// direct, if set, is edge reading op(A) where it lies instead of from a
	// packed panel: value r of column p of the panel is a[r*rs+p*ks], for
	// all r < mr. The driver then packs only the panels of op(A) that the
	// edge of C cuts, and reads the others in place: when op(A) is A if
	// directA is set, when it is Aᵀ if directAT is.
	direct            func(k int, a []T, rs, ks int, bp, c []T, ldc int, alpha, beta T, rows, cols int)
	directA, directAT bool
	// packA, if set, packs a panel of A: kb groups of mr values into d,
	// value r of group p at a[off+p*lda+r] when contiguous (op(A) = Aᵀ) or
	// a[off+r*lda+p] when not, for r < n, and zeros for n <= r < mr. It is
	// called with n == mr, and with n < mr when contiguous. packB likewise
	// packs a panel of n <= nr columns of op(B): value j of group p at
	// b[off+p*ldb+j] when contiguous (op(B) = B) or b[off+j*ldb+p]. When
	// nil, portable Go code packs.
	packA func(d, a []T, lda int, contiguous bool, off, kb, n int)
	packB func(d, b []T, ldb int, contiguous bool, off, kb, n int)
}

// genericKernel32 and genericKernel64 are the portable Go micro-kernels.
var (
	genericKernel32 = kernel[float32]{
		name: "generic", mr: 4, nr: 4, mc: 128, kc: 256, nc: 2048,
		fn: kernelGeneric4x4[float32],
	}
	genericKernel64 = kernel[float64]{
		name: "generic", mr: 4, nr: 4, mc: 96, kc: 256, nc: 2048,
		fn: kernelGeneric4x4[float64],
	}
)

// isaKernels32 holds the single-precision micro-kernel of each instruction
// set, nil where this build has none; an architecture file fills it in.
var isaKernels32 = [compute.AVX512 + 1]*kernel[float32]{compute.Generic: &genericKernel32}

// kernelFor returns the single-precision kernel for isa: its own, or the
// best one below it that this build has.
func kernelFor(isa compute.ISA) *kernel[float32] {
	for i := min(isa, compute.AVX512); i > compute.Generic; i-- {
		if k := isaKernels32[i]; k != nil {
			return k
		}
	}
	return &genericKernel32
}

// kernel32 returns the single-precision kernel of the instruction set in
// use now (compute.Current), read at each call so that tests and benchmarks
// can force a path with compute.SetISA. Dgemm always uses genericKernel64.
func kernel32() *kernel[float32] { return kernelFor(compute.Current()) }

// kernelGeneric4x4 is the portable 4x4 micro-kernel: sixteen scalar
// accumulators, each summing its products in increasing k.
func kernelGeneric4x4[T float](k int, ap, bp, c []T, ldc int, alpha, beta T) {
	var c00, c01, c02, c03 T
	var c10, c11, c12, c13 T
	var c20, c21, c22, c23 T
	var c30, c31, c32, c33 T
	ap = ap[:4*k]
	bp = bp[:4*k]
	for p := 0; p+4 <= len(ap) && p+4 <= len(bp); p += 4 {
		a := ap[p : p+4 : p+4]
		b := bp[p : p+4 : p+4]
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	storeRow4(c[0*ldc:0*ldc+4], c00, c01, c02, c03, alpha, beta)
	storeRow4(c[1*ldc:1*ldc+4], c10, c11, c12, c13, alpha, beta)
	storeRow4(c[2*ldc:2*ldc+4], c20, c21, c22, c23, alpha, beta)
	storeRow4(c[3*ldc:3*ldc+4], c30, c31, c32, c33, alpha, beta)
}

// storeRow4 writes row = alpha*(x0..x3) + beta*row, not reading row when
// beta is zero.
func storeRow4[T float](row []T, x0, x1, x2, x3, alpha, beta T) {
	row = row[:4]
	x0, x1, x2, x3 = alpha*x0, alpha*x1, alpha*x2, alpha*x3
	if beta != 0 {
		x0 += beta * row[0]
		x1 += beta * row[1]
		x2 += beta * row[2]
		x3 += beta * row[3]
	}
	row[0], row[1], row[2], row[3] = x0, x1, x2, x3
}
