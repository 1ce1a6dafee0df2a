//go:build amd64 && !purego

package gemm

//go:generate go run avx512_gen.go

// sgemmKernel8x32 computes the 8x32 tile C = alpha*op(A)*Bp + beta*C, where
// value r of column p of op(A) is at a[r*ars+p*aks] (a packed panel has ars
// = 1 and aks = 8), Bp holds k packed rows of 32 values and C has row stride
// ldc (all strides in elements). It stores only rows 0..rows-1 of the tile
// and the columns whose bit is set in mask; when beta is zero C is only
// written. k must be at least 1. Written by avx512_gen.go.
//
//go:noescape
func sgemmKernel8x32(k int, a, b, c *float32, ldc int, alpha, beta float32, rows int, mask uint64, ars, aks int)

// avx512Kernel32 is the AVX-512 single-precision micro-kernel and its
// blocking. The tile and the blocks are chosen in doc.go; kc is the AVX2
// kernel's, so that both give the same bits.
var avx512Kernel32 = kernel[float32]{
	name:     "avx512",
	mr:       8,
	nr:       32,
	mc:       192,
	kc:       384,
	nc:       3072,
	fn:       sgemmAVX512,
	edge:     sgemmAVX512Edge,
	direct:   sgemmAVX512Direct,
	directA:  true,
	directAT: true,
	fused:    true,
	packA:    spackA8,
	packB:    spackB32,
}

// sgemmAVX512 computes a whole tile from packed panels. Like the other entry
// points, it checks the extent of the operands first, which makes an
// out-of-bounds access impossible.
func sgemmAVX512(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	_ = a[8*k-1]
	_ = b[32*k-1]
	_ = c[7*ldc+31]
	sgemmKernel8x32(k, &a[0], &b[0], &c[0], ldc, alpha, beta, 8, 1<<32-1, 1, 8)
}

// sgemmAVX512Edge computes the rows x cols corner of a tile from packed
// panels.
func sgemmAVX512Edge(k int, a, b, c []float32, ldc int, alpha, beta float32, rows, cols int) {
	_ = a[8*k-1]
	_ = b[32*k-1]
	_ = c[(rows-1)*ldc+cols-1]
	sgemmKernel8x32(k, &a[0], &b[0], &c[0], ldc, alpha, beta, rows, 1<<cols-1, 1, 8)
}

// sgemmAVX512Direct computes the rows x cols corner of a tile from op(A) in
// place (value r of column p at a[r*rs+p*ks]) and a packed panel of B.
func sgemmAVX512Direct(k int, a []float32, rs, ks int, b, c []float32, ldc int, alpha, beta float32, rows, cols int) {
	_ = a[7*rs+(k-1)*ks]
	_ = b[32*k-1]
	_ = c[(rows-1)*ldc+cols-1]
	sgemmKernel8x32(k, &a[0], &b[0], &c[0], ldc, alpha, beta, rows, 1<<cols-1, rs, ks)
}

// spackContig8 sets d[8p+r] = s[p*ld+r] for r < n and 0 for n <= r < 8,
// p < kb, with 1 <= n <= 8; it does not access s past n.
//
//go:noescape
func spackContig8(d, s *float32, ld, kb, n int)

// spackContig32 sets d[32p+j] = s[p*ld+j] for j < n and 0 for n <= j < 32,
// p < kb, with 1 <= n <= 32; it does not access s past n.
//
//go:noescape
func spackContig32(d, s *float32, ld, kb, n int)

// spackStrided8 sets d[8p+r] = s[r*ld+p] for r < 8, p < 8*chunks.
//
//go:noescape
func spackStrided8(d, s *float32, ld, chunks int)

// spackStrided32 sets d[32p+j] = s[j*ld+p] for j < 32, p < 8*chunks.
//
//go:noescape
func spackStrided32(d, s *float32, ld, chunks int)

// spackA8 packs an 8-row panel of A (see kernel.packA).
func spackA8(d, a []float32, lda int, contiguous bool, off, kb, n int) {
	spackPanel(d, a, lda, contiguous, off, kb, n, 8, spackContig8, spackStrided8)
}

// spackB32 packs a 32-column panel of op(B) (see kernel.packB).
func spackB32(d, b []float32, ldb int, contiguous bool, off, kb, n int) {
	spackPanel(d, b, ldb, contiguous, off, kb, n, 32, spackContig32, spackStrided32)
}
