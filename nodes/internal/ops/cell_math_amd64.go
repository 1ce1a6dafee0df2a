//go:build amd64 && !purego

package ops

import "github.com/unroll-ml/unroll/internal/compute"

// sigmoids32AVX2 replaces p[i] by sigmoid32(p[i]) for i < n&^7, eight at a time.
//
//go:noescape
func sigmoids32AVX2(p *float32, n int)

// tanhs32AVX2 replaces p[i] by tanh32(p[i]) for i < n&^7, eight at a time.
//
//go:noescape
func tanhs32AVX2(p *float32, n int)

// sigmoids32AVX512 replaces p[i] by sigmoid32(p[i]) for i < n, sixteen at a time.
//
//go:noescape
func sigmoids32AVX512(p *float32, n int)

// tanhs32AVX512 replaces p[i] by tanh32(p[i]) for i < n, sixteen at a time.
//
//go:noescape
func tanhs32AVX512(p *float32, n int)

// sigmoids32 replaces every x of s by sigmoid32(x).
func sigmoids32(s []float32) { cellVector(s, sigmoids32AVX512, sigmoids32AVX2, sigmoid32) }

// tanhs32 replaces every x of s by tanh32(x).
func tanhs32(s []float32) { cellVector(s, tanhs32AVX512, tanhs32AVX2, tanh32) }

// cellVector applies f to s with the instruction set in use (compute.Current): the
// sixteen-wide avx512 to all of s, or the eight-wide avx2 with the last len(s)%8 values
// through a padded block, so that every value takes the same path, or scalar to each value.
func cellVector(s []float32, avx512, avx2 func(*float32, int), scalar func(float32) float32) {
	switch isa := compute.Current(); {
	case isa >= compute.AVX512:
		if len(s) > 0 {
			avx512(&s[0], len(s))
		}
		return
	case isa < compute.AVX2:
		for i, x := range s {
			s[i] = scalar(x)
		}
		return
	}
	n := len(s) &^ 7
	if n > 0 {
		avx2(&s[0], n)
	}
	if rest := s[n:]; len(rest) > 0 {
		var block [8]float32
		copy(block[:], rest)
		avx2(&block[0], 8)
		copy(rest, block[:])
	}
}

// lstmBackward32AVX2 computes the LSTM backward loop of cellBackward for j < h&^3 (see the
// assembly).
//
//go:noescape
func lstmBackward32AVX2(gates, tc, cp, gout, dg, dc *float32, h int)

// gruBackward32AVX2 computes the GRU backward loop of cellBackward for j < h&^3 (see the
// assembly).
//
//go:noescape
func gruBackward32AVX2(gates, gout, hp, dgi, dgh, dh *float32, h int)

// lstmBackward32AVX512 computes the LSTM backward loop of cellBackward for j < h (see the
// assembly).
//
//go:noescape
func lstmBackward32AVX512(gates, tc, cp, gout, dg, dc *float32, h int)

// gruBackward32AVX512 computes the GRU backward loop of cellBackward for j < h (see the
// assembly).
//
//go:noescape
func gruBackward32AVX512(gates, gout, hp, dgi, dgh, dh *float32, h int)

// lstmBackwardRow32 runs the LSTM backward loop of one row on its first backwardCols(h)
// columns and returns how many it did. The slices are those of cellBackward.
func lstmBackwardRow32(g4, tc, cp, gout, dg, dc []float32, h int) int {
	n, wide := backwardCols(h)
	if n == 0 {
		return 0
	}
	_, _, _, _, _, _ = g4[4*h-1], tc[h-1], cp[h-1], gout[2*h-1], dg[4*h-1], dc[h-1]
	if wide {
		lstmBackward32AVX512(&g4[0], &tc[0], &cp[0], &gout[0], &dg[0], &dc[0], h)
	} else {
		lstmBackward32AVX2(&g4[0], &tc[0], &cp[0], &gout[0], &dg[0], &dc[0], h)
	}
	return n
}

// gruBackwardRow32 runs the GRU backward loop of one row on its first backwardCols(h) columns,
// as lstmBackwardRow32 does, and returns how many it did.
func gruBackwardRow32(gates, gout, hp, dgi, dgh, dh []float32, h int) int {
	n, wide := backwardCols(h)
	if n == 0 {
		return 0
	}
	_, _, _, _, _, _ = gates[4*h-1], gout[h-1], hp[h-1], dgi[3*h-1], dgh[3*h-1], dh[h-1]
	if wide {
		gruBackward32AVX512(&gates[0], &gout[0], &hp[0], &dgi[0], &dgh[0], &dh[0], h)
	} else {
		gruBackward32AVX2(&gates[0], &gout[0], &hp[0], &dgi[0], &dgh[0], &dh[0], h)
	}
	return n
}

// backwardCols is how many columns of a row of h the assembly of the cells' backward loops
// does on the instruction set in use: all h with AVX-512 (wide), h&^3 with AVX2, none
// otherwise; the Go loop does the rest.
func backwardCols(h int) (n int, wide bool) {
	switch isa := compute.Current(); {
	case h == 0 || isa < compute.AVX2 || h < 4 && isa < compute.AVX512:
		return 0, false
	case isa >= compute.AVX512:
		return h, true
	}
	return h &^ 3, false
}
