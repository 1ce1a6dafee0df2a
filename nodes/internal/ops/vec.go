package ops

import "math"

// The elementwise float32 loops that run in assembly where the processor allows
// (vec_amd64.s, and vec_amd64.go for which have an AVX-512 version): the functions of this
// file are their portable versions, which the other paths match bit for bit, and which the
// generic path and the purego build run. An AVX-512 version does every value (the last vector
// under a mask); an AVX2 one the whole vectors of eight, and these functions the rest.

// add32Go sets dst = a + b.
func add32Go(dst, a, b []float32) {
	dst, b = dst[:len(a)], b[:len(a)]
	for i, v := range a {
		dst[i] = v + b[i]
	}
}

// mul32Go sets dst = a ⊙ b.
func mul32Go(dst, a, b []float32) {
	dst, b = dst[:len(a)], b[:len(a)]
	for i, v := range a {
		dst[i] = v * b[i]
	}
}

// relu32Go sets y = x where x > 0 and 0 elsewhere (NaN included) without a branch (see
// reluGrad32Go).
func relu32Go(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		u := math.Float32bits(v)
		m := uint32((int64(u-1) - 0x7f800000) >> 63)
		y[i] = math.Float32frombits(u & m)
	}
}

// reluGrad32Go sets dx = dy where x > 0 and 0 elsewhere (NaN included) without a branch: x > 0
// exactly when the bits u of x satisfy 1 <= u <= bits(+Inf), and the mask is all ones then.
func reluGrad32Go(x, dy, dx []float32) {
	dy, dx = dy[:len(x)], dx[:len(x)]
	for i, v := range x {
		u := math.Float32bits(v)
		m := uint32((int64(u-1) - 0x7f800000) >> 63)
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & m)
	}
}

// biasReLU32Go sets dst = max(0, src + b) (0 for NaN) without a branch, as relu32Go does.
func biasReLU32Go(src, dst []float32, b float32) {
	dst = dst[:len(src)]
	for j, v := range src {
		u := math.Float32bits(v + b)
		m := uint32((int64(u-1) - 0x7f800000) >> 63)
		dst[j] = math.Float32frombits(u & m)
	}
}

// mulAdd32Go sets dst = a ⊙ b + c ⊙ d, each product rounded to float32 before the sum (the
// conversions keep the compiler from fusing, as the assembly does not).
func mulAdd32Go(dst, a, b, c, d []float32) {
	dst, b, c, d = dst[:len(a)], b[:len(a)], c[:len(a)], d[:len(a)]
	for i, v := range a {
		dst[i] = float32(v*b[i]) + float32(c[i]*d[i])
	}
}

// addMul32Go sets dst = a + b ⊙ c, the product rounded before the sum.
func addMul32Go(dst, a, b, c []float32) {
	dst, b, c = dst[:len(a)], b[:len(a)], c[:len(a)]
	for i, v := range a {
		dst[i] = v + float32(b[i]*c[i])
	}
}

// lerp32Go sets dst = a + z ⊙ (b - a), the product rounded before the sum.
func lerp32Go(dst, a, z, b []float32) {
	dst, z, b = dst[:len(a)], z[:len(a)], b[:len(a)]
	for i, v := range a {
		dst[i] = v + float32(z[i]*(b[i]-v))
	}
}
