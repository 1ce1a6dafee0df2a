package ops

import "math"

// softmaxRow32 sets p to the softmax of the float32 row z, in float32, and returns the row's
// largest value m and the sum s of the e^(z_j - m), from which the cross-entropy takes
// log Σ e^z_j = m + log s. The exponentials are exp32's. The largest value and the sum are
// each kept in 16 interleaved partials (element j goes to partial j%16) and folded as
// foldMax16 and foldSum16 do, a fixed pattern that the AVX2 and AVX-512 versions
// (softmaxRowVector, for rows of whole blocks of 16) follow, so that every path gives the
// same bits. A NaN in z is passed over by the maximum and gives NaN probabilities; a row of
// NaN has m = -Inf.
func softmaxRow32(z, p []float32) (m, s float32) {
	if m, s, ok := softmaxRowVector(z, p); ok {
		return m, s
	}
	p = p[:len(z)]
	var acc [16]float32
	for i := range acc {
		acc[i] = float32(math.Inf(-1))
	}
	for j, v := range z {
		if v > acc[j%16] {
			acc[j%16] = v
		}
	}
	m = foldMax16(&acc)
	var sum [16]float32
	for j, v := range z {
		e := exp32(v - m)
		p[j] = e
		sum[j%16] += e
	}
	s = foldSum16(&sum)
	div32(p, s)
	return m, s
}

// foldMax16 folds 16 partial maxima into one: a[i] = a[i+h] where a[i+h] > a[i], for h = 8,
// 4, 2, 1.
func foldMax16(a *[16]float32) float32 {
	for h := 8; h >= 1; h /= 2 {
		for i := 0; i < h; i++ {
			if a[i+h] > a[i] {
				a[i] = a[i+h]
			}
		}
	}
	return a[0]
}

// foldSum16 folds 16 partial sums into one as foldMax16 does: a[i] += a[i+h].
func foldSum16(a *[16]float32) float32 {
	for h := 8; h >= 1; h /= 2 {
		for i := 0; i < h; i++ {
			a[i] += a[i+h]
		}
	}
	return a[0]
}

// scale32Go sets out[j] = float32(scale · float64(p[j])).
func scale32Go(out, p []float32, scale float64) {
	out = out[:len(p)]
	for j, v := range p {
		out[j] = float32(scale * float64(v))
	}
}

// div32Go sets p = p / s.
func div32Go(p []float32, s float32) {
	for i, v := range p {
		p[i] = v / s
	}
}
