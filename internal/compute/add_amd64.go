//go:build amd64 && !purego

package compute

// addF32 adds what the instruction set in use does in assembly (add_amd64.s) and returns how
// many values it did: all with AVX-512, the whole vectors of eight with AVX2.
func addF32(dst, a, b []float32) int {
	switch n := len(a); {
	case Current() >= AVX512:
		addF32AVX512(&dst[0], &a[0], &b[0], n)
		return n
	case Current() >= AVX2 && n >= 8:
		addF32AVX2(&dst[0], &a[0], &b[0], n&^7)
		return n &^ 7
	}
	return 0
}

// addF32AVX512 sets dst[i] = a[i] + b[i] for i < n (n >= 1).
//
//go:noescape
func addF32AVX512(dst, a, b *float32, n int)

// addF32AVX2 sets dst[i] = a[i] + b[i] for i < n, a positive multiple of 8.
//
//go:noescape
func addF32AVX2(dst, a, b *float32, n int)
