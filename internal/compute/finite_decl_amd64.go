//go:build amd64 && !purego

package compute

// anyNonFinite32 reports whether any of the n values from p (n a positive multiple of 64) is
// NaN or infinite; AVX-512 (finite_amd64.s).
//
//go:noescape
func anyNonFinite32(p *float32, n int) bool
