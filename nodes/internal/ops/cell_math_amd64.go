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

// lstmBackwardRow32 runs the LSTM backward loop of one row on its first columns, all h of them
// with AVX-512, h&^3 with AVX2, none otherwise, and returns how many it did. The slices are
// those of cellBackward.
func lstmBackwardRow32(g4, tc, cp, gout, dg, dc []float32, h int) int {
	return backwardRow32(lstmBackward32AVX512, lstmBackward32AVX2, h,
		[6]int{4, 1, 1, 2, 4, 1}, [6][]float32{g4, tc, cp, gout, dg, dc})
}

// gruBackwardRow32 runs the GRU backward loop of one row on its first columns, as
// lstmBackwardRow32 does, and returns how many it did.
func gruBackwardRow32(gates, gout, hp, dgi, dgh, dh []float32, h int) int {
	return backwardRow32(gruBackward32AVX512, gruBackward32AVX2, h,
		[6]int{4, 1, 1, 3, 3, 1}, [6][]float32{gates, gout, hp, dgi, dgh, dh})
}

// backwardRow32 runs a cell's backward loop of one row with the assembly of the instruction
// set in use, avx512 on all h columns or avx2 on h&^3 of them, and returns how many it did
// (none without AVX2, or when h < 4 without AVX-512). Slice i holds at least widths[i]·h
// values; the assembly reads and writes no more.
func backwardRow32(avx512, avx2 func(a, b, c, d, e, f *float32, h int), h int, widths [6]int, s [6][]float32) int {
	isa := compute.Current()
	if isa < compute.AVX2 || h < 4 && isa < compute.AVX512 || h == 0 {
		return 0
	}
	for i, w := range widths {
		_ = s[i][w*h-1]
	}
	if isa >= compute.AVX512 {
		avx512(&s[0][0], &s[1][0], &s[2][0], &s[3][0], &s[4][0], &s[5][0], h)
		return h
	}
	avx2(&s[0][0], &s[1][0], &s[2][0], &s[3][0], &s[4][0], &s[5][0], h)
	return h &^ 3
}
