//go:build amd64 && !purego

package gemm

import "github.com/unroll-ml/unroll/internal/compute"

// sgemmKernel6x16 computes the 6x16 tile C = alpha*Ap*Bp + beta*C, where Ap
// holds k packed columns of 6 values and Bp k packed rows of 16 values, and
// C has row stride ldc (in elements). When beta is zero C is only written.
// k must be at least 1.
//
//go:noescape
func sgemmKernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32)

// avx2Kernel32 is the AVX2+FMA single-precision micro-kernel and its blocking.
var avx2Kernel32 = kernel[float32]{
	name: "avx2-fma",
	mr:   6,
	nr:   16,
	// kc: a 6 x kc panel of A and a kc x 16 panel of B stay in L1 (48 KiB).
	// mc: an mc x kc block of A stays in L2. nc: a kc x nc panel of B in L3.
	mc:    144,
	kc:    384,
	nc:    3072,
	fn:    sgemmAVX2,
	fused: true,
	packA: spackA6,
	packB: spackB16,
}

// sgemmAVX2 checks the extent of the tile operands, then runs the assembly
// micro-kernel; the checks make an out-of-bounds access impossible.
func sgemmAVX2(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	_ = a[6*k-1]
	_ = b[16*k-1]
	_ = c[5*ldc+15]
	sgemmKernel6x16(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
}

// spackContig6 sets d[6p+r] = s[p*ld+r] for p < kb, r < 6.
//
//go:noescape
func spackContig6(d, s *float32, ld, kb int)

// spackContig16 sets d[16p+j] = s[p*ld+j] for p < kb, j < 16.
//
//go:noescape
func spackContig16(d, s *float32, ld, kb int)

// spackStrided6 sets d[6p+r] = s[r*ld+p] for r < 6, p < 8*chunks.
//
//go:noescape
func spackStrided6(d, s *float32, ld, chunks int)

// spackStrided16 sets d[16p+j] = s[j*ld+p] for j < 16, p < 8*chunks.
//
//go:noescape
func spackStrided16(d, s *float32, ld, chunks int)

// spackContigMask16 sets d[16p+j] = s[p*ld+j] for j < n and 0 for
// n <= j < 16, p < kb, with 1 <= n <= 16; it does not access s past n.
//
//go:noescape
func spackContigMask16(d, s *float32, ld, kb, n int)

// spackContigMask6 sets d[6p+r] = s[p*ld+r] for r < n and 0 for
// n <= r < 6, p < kb, with 1 <= n <= 6; it does not access s past n.
//
//go:noescape
func spackContigMask6(d, s *float32, ld, kb, n int)

// spackA6 packs a 6-row panel of A with the assembly routines (see
// kernel.packA).
func spackA6(d, a []float32, lda int, contiguous bool, off, kb, n int) {
	spackPanel(d, a, lda, contiguous, off, kb, n, 6, spackContigN6, spackStrided6)
}

// spackB16 packs a 16-column panel of op(B) with the assembly routines
// (see kernel.packB).
func spackB16(d, b []float32, ldb int, contiguous bool, off, kb, n int) {
	spackPanel(d, b, ldb, contiguous, off, kb, n, 16, spackContigN16, spackStrided16)
}

// spackContigN6 and spackContigN16 pack kb contiguous groups of n values
// (see spackContigMask6 and spackContigMask16), without the mask when n is
// the whole width.
func spackContigN6(d, s *float32, ld, kb, n int) {
	if n == 6 {
		spackContig6(d, s, ld, kb)
	} else {
		spackContigMask6(d, s, ld, kb, n)
	}
}

func spackContigN16(d, s *float32, ld, kb, n int) {
	if n == 16 {
		spackContig16(d, s, ld, kb)
	} else {
		spackContigMask16(d, s, ld, kb, n)
	}
}

// spackPanel packs a panel of w values a group (see kernel.packA) with the
// assembly routines of one width: contig packs kb contiguous groups of n
// values, zeros after them; strided packs the first 8*chunks groups of a
// strided panel, and the groups the 8-wide transposes leave are packed in Go.
func spackPanel(d, s []float32, ld int, contiguous bool, off, kb, n, w int,
	contig func(d, s *float32, ld, kb, n int), strided func(d, s *float32, ld, chunks int)) {
	d = d[:w*kb]
	if contiguous {
		_ = s[off+(kb-1)*ld+n-1]
		contig(&d[0], &s[off], ld, kb, n)
		return
	}
	_ = s[off+(w-1)*ld+kb-1]
	chunks := kb / 8
	if chunks > 0 {
		strided(&d[0], &s[off], ld, chunks)
	}
	for p := 8 * chunks; p < kb; p++ {
		g := d[w*p : w*p+w : w*p+w]
		for r := range g {
			g[r] = s[off+r*ld+p]
		}
	}
}

func init() {
	isaKernels32[compute.AVX2] = &avx2Kernel32
	isaKernels32[compute.AVX512] = &avx512Kernel32
}
