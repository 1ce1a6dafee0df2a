//go:build amd64 && !purego

package ops

import "github.com/unroll-ml/unroll/internal/compute"

// The assembly loops of vec_amd64.s. The AVX2 ones do the first n&^7 values (n&^3 for
// scale32), the AVX-512 ones all n. The loops on rows that stay in the first-level cache (a
// cell's rows: add32, mulAdd32, addMul32, lerp32; a softmax row: div32, softmaxRowVector) have
// AVX-512 versions, which measured faster there (BenchmarkVecRows, BenchmarkCellRows). ReLU,
// its gradient, bias+ReLU and the product run over tensors of megabytes (a convolution's
// activations, dropout's masks) and are bound by memory bandwidth: AVX-512 versions measured
// no faster than AVX2 on the W1 net's first activations (BenchmarkElementwiseOps), so the
// AVX-512 path runs the AVX2 ones; scale32 and colSums32 say why they have none either.

//go:noescape
func vecMul32AVX2(dst, a, b *float32, n int)

//go:noescape
func vecBiasReLU32AVX2(dst, src *float32, b float32, n int)

//go:noescape
func vecReLUGrad32AVX2(dx, x, dy *float32, n int)

// vecPath returns how many of n values the assembly of the instruction set in use does: all
// when it is AVX-512 and the loop has an AVX-512 version (wide), the whole vectors of eight
// with AVX2, none otherwise.
func vecPath(n int, hasWide bool) (done int, wide bool) {
	switch isa := compute.Current(); {
	case n == 0 || isa < compute.AVX2:
		return 0, false
	case isa >= compute.AVX512 && hasWide:
		return n, true
	}
	return n &^ 7, false
}

// binary32 runs dst = a op b: the assembly avx512 (if not nil) or avx2, and the Go version
// rest on what they leave.
func binary32(dst, a, b []float32, avx512, avx2 func(dst, a, b *float32, n int), rest func(dst, a, b []float32)) {
	n := len(a)
	dst, b = dst[:n], b[:n]
	k, wide := vecPath(n, avx512 != nil)
	switch {
	case wide:
		avx512(&dst[0], &a[0], &b[0], n)
	case k > 0:
		avx2(&dst[0], &a[0], &b[0], k)
	}
	if k < n {
		rest(dst[k:], a[k:], b[k:])
	}
}

// add32 sets dst = a + b (compute.Add: AVX-512, AVX2 or Go).
func add32(dst, a, b []float32) { compute.Add(dst, a, b) }

// mul32 sets dst = a ⊙ b.
func mul32(dst, a, b []float32) { binary32(dst, a, b, nil, vecMul32AVX2, mul32Go) }

// reluGrad32 sets dx = dy where x > 0, else 0 (NaN included).
func reluGrad32(x, dy, dx []float32) {
	binary32(dx, x, dy, nil, vecReLUGrad32AVX2, func(dx, x, dy []float32) { reluGrad32Go(x, dy, dx) })
}

// relu32 sets y = max(x, 0), 0 for NaN: biasReLU32 with b = 0, since x + 0 is x for every x
// but -0 and NaN, which both give 0.
func relu32(x, y []float32) {
	if k, _ := vecPath(len(x), false); k > 0 {
		biasReLU32(x, y, 0)
		return
	}
	relu32Go(x, y)
}

// biasReLU32 sets dst = max(0, src + b), 0 for NaN.
func biasReLU32(src, dst []float32, b float32) {
	n := len(src)
	dst = dst[:n]
	k, _ := vecPath(n, false)
	if k > 0 {
		vecBiasReLU32AVX2(&dst[0], &src[0], b, k)
	}
	if k < n {
		biasReLU32Go(src[k:], dst[k:], b)
	}
}

//go:noescape
func vecDiv32AVX2(p *float32, s float32, n int)

//go:noescape
func vecDiv32AVX512(p *float32, s float32, n int)

// div32 sets p = p / s.
func div32(p []float32, s float32) {
	n := len(p)
	k, wide := vecPath(n, true)
	switch {
	case wide:
		vecDiv32AVX512(&p[0], s, n)
	case k > 0:
		vecDiv32AVX2(&p[0], s, k)
	}
	if k < n {
		div32Go(p[k:], s)
	}
}

//go:noescape
func softmaxRow32AVX2(z, p *float32, n int) (m, s float32)

//go:noescape
func softmaxRow32AVX512(z, p *float32, n int) (m, s float32)

// softmaxRowVector computes softmaxRow32 of z into p in assembly when the instruction set in
// use has it and z is whole blocks of 16 values, and reports whether it did. Other rows take
// the Go loop: the assembly keeps the 16 partials in registers from the first block to the
// fold, and a partial block would need the partials handed to Go and back.
func softmaxRowVector(z, p []float32) (m, s float32, ok bool) {
	n := len(z)
	p = p[:n]
	switch isa := compute.Current(); {
	case n == 0 || n%16 != 0 || isa < compute.AVX2:
		return 0, 0, false
	case isa >= compute.AVX512:
		m, s = softmaxRow32AVX512(&z[0], &p[0], n)
	default:
		m, s = softmaxRow32AVX2(&z[0], &p[0], n)
	}
	return m, s, true
}

//go:noescape
func vecScale32AVX2(out, p *float32, n int, scale float64)

// scale32 sets out[j] = float32(scale · float64(p[j])). It has no AVX-512 version: on the
// cross-entropy's rows of 96 classes one measured no faster (BenchmarkVecRows/scale).
func scale32(out, p []float32, scale float64) {
	n := len(p)
	out = out[:n]
	k := 0
	if compute.Current() >= compute.AVX2 {
		if k = n &^ 3; k > 0 { // four at a time, in float64
			vecScale32AVX2(&out[0], &p[0], k, scale)
		}
	}
	if k < n {
		scale32Go(out[k:], p[k:], scale)
	}
}

//go:noescape
func vecMulAdd32AVX2(dst, a, b, c, d *float32, n int)

//go:noescape
func vecMulAdd32AVX512(dst, a, b, c, d *float32, n int)

//go:noescape
func vecAddMul32AVX2(dst, a, b, c *float32, n int)

//go:noescape
func vecAddMul32AVX512(dst, a, b, c *float32, n int)

//go:noescape
func vecLerp32AVX2(dst, a, z, b *float32, n int)

//go:noescape
func vecLerp32AVX512(dst, a, z, b *float32, n int)

// mulAdd32 sets dst = a ⊙ b + c ⊙ d.
func mulAdd32(dst, a, b, c, d []float32) {
	n := len(a)
	dst, b, c, d = dst[:n], b[:n], c[:n], d[:n]
	k, wide := vecPath(n, true)
	switch {
	case wide:
		vecMulAdd32AVX512(&dst[0], &a[0], &b[0], &c[0], &d[0], n)
	case k > 0:
		vecMulAdd32AVX2(&dst[0], &a[0], &b[0], &c[0], &d[0], k)
	}
	if k < n {
		mulAdd32Go(dst[k:], a[k:], b[k:], c[k:], d[k:])
	}
}

// ternary32 runs dst = f(a, b, c): the assembly avx512 or avx2, and the Go version rest on
// what they leave.
func ternary32(dst, a, b, c []float32, avx512, avx2 func(dst, a, b, c *float32, n int), rest func(dst, a, b, c []float32)) {
	n := len(a)
	dst, b, c = dst[:n], b[:n], c[:n]
	k, wide := vecPath(n, true)
	switch {
	case wide:
		avx512(&dst[0], &a[0], &b[0], &c[0], n)
	case k > 0:
		avx2(&dst[0], &a[0], &b[0], &c[0], k)
	}
	if k < n {
		rest(dst[k:], a[k:], b[k:], c[k:])
	}
}

// addMul32 sets dst = a + b ⊙ c.
func addMul32(dst, a, b, c []float32) {
	ternary32(dst, a, b, c, vecAddMul32AVX512, vecAddMul32AVX2, addMul32Go)
}

// lerp32 sets dst = a + z ⊙ (b - a).
func lerp32(dst, a, z, b []float32) {
	ternary32(dst, a, z, b, vecLerp32AVX512, vecLerp32AVX2, lerp32Go)
}

//go:noescape
func colSums32AVX2(acc *[32]float64, m *float32, rows, ld int)

// colSums32 adds the rows of the first 32 columns of m (rows ld apart) to acc in float64,
// row after row, with AVX2, and reports whether it did (not without AVX2). It has no AVX-512
// version: it reads a segment's gate gradients (8 MB in workload W2) once and is bound by
// memory; one measured no faster (BenchmarkCellRows/colsums).
func colSums32(acc *[32]float64, m []float32, rows, ld int) bool {
	if rows == 0 || compute.Current() < compute.AVX2 {
		return false
	}
	_ = m[(rows-1)*ld+31]
	colSums32AVX2(acc, &m[0], rows, ld)
	return true
}
