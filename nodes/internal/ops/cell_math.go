package ops

import "math"

// The gate nonlinearities of the fused cells, applied in place to whole slices. float64 values
// (gradient checks) use the math package; float32 values use single-precision versions of
// Cephes' expf and tanhf (range reduction and a minimax polynomial, within a few units in the
// last place of float32), which are several times faster than going through float64. On amd64
// processors with AVX2 the float32 versions run eight values at a time in assembly
// (cell_math_amd64.s), and sixteen with AVX-512 (cell_math_avx512_amd64.s), with the same
// operations in the same order: the same bits. The Go versions round every product (see
// exp32), so that this holds whatever GOAMD64 lets the compiler fuse.

// cellSigmoids replaces every x of s by σ(x) = 1 / (1 + e^-x).
func cellSigmoids[T Float](s []T) {
	switch v := any(s).(type) {
	case []float32:
		sigmoids32(v)
	case []float64:
		for i, x := range v {
			v[i] = sigmoid(x)
		}
	}
}

// cellTanhs replaces every x of s by tanh(x).
func cellTanhs[T Float](s []T) {
	switch v := any(s).(type) {
	case []float32:
		tanhs32(v)
	case []float64:
		for i, x := range v {
			v[i] = math.Tanh(x)
		}
	}
}

// exp32 is e^x in single precision: x = n ln 2 + r with |r| <= ln2/2, e^r by a degree-7
// polynomial (Cephes expf), scaled by 2^n through the exponent bits. Below -87.3 it returns 0,
// above 88.37 +Inf (the fused cells never ask for more than e^18).
func exp32(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375    // ln 2, high part (exact in float32)
		c2    = -2.12194440e-4 // ln 2 - c1
	)
	if x > 88.37626 {
		return float32(math.Inf(1))
	}
	if x < -87.33654 {
		return 0
	}
	// Round log2(e)·x to the nearest integer: adding and subtracting 1.5·2^23 leaves no
	// fraction bits (the conversions force single-precision rounding at each step).
	// The conversions of products to float32 keep the compiler from fusing a multiply and an
	// add into one instruction (as it may with GOAMD64=v3), which rounds once instead of twice.
	n := float32(float32(float32(log2e*x)+12582912) - 12582912)
	r := float32(x-float32(n*c1)) - float32(n*c2)
	p := float32(1.9875691500e-4 * r)
	p = float32((p + 1.3981999507e-3) * r)
	p = float32((p + 8.3334519073e-3) * r)
	p = float32((p + 4.1665795894e-2) * r)
	p = float32((p + 1.6666665459e-1) * r)
	p = float32(float32((p+5.0000001201e-1)*r) * r)
	p = p + r + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// sigmoid32 is σ(x) in single precision. e^-x saturates at 0 and +Inf, so the quotient stays
// in [0, 1] for every x.
func sigmoid32(x float32) float32 { return 1 / (1 + exp32(-x)) }

// tanh32 is tanh(x) in single precision: an odd polynomial below |x| = 0.625 (Cephes tanhf),
// 1 - 2 / (e^2|x| + 1) above.
func tanh32(x float32) float32 {
	a := x
	if a < 0 {
		a = -a
	}
	if a < 0.625 {
		z := x * x
		p := float32(-5.70498872745e-3 * z)
		p = float32((p + 2.06390887954e-2) * z)
		p = float32((p - 5.37397155531e-2) * z)
		p = float32((p + 1.33314422036e-1) * z)
		p = float32(float32((p-3.33332819422e-1)*z) * x)
		return p + x
	}
	var t float32 = 1
	if a < 9 {
		t = 1 - 2/(exp32(2*a)+1)
	}
	if x < 0 {
		return -t
	}
	return t
}
