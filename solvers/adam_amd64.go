//go:build amd64 && !purego

package solvers

import "github.com/unroll-ml/unroll/internal/compute"

// adam32AVX2 applies the float32 update to parameters i < n&^7 (adam_amd64.s).
//
//go:noescape
func adam32AVX2(value, grad, m, v *float32, n int, c *adamConsts32, mode int)

// adam32AVX512 applies the float32 update to parameters i < n (adam_amd64.s).
//
//go:noescape
func adam32AVX512(value, grad, m, v *float32, n int, c *adamConsts32, mode int)

// adamVector32 applies the update of c in mode to the first parameters of the slices with
// the instruction set in use (compute.Current) and returns how many it did: all with AVX-512,
// the whole vectors of eight with AVX2, none otherwise.
func adamVector32(value, grad, m, v []float32, c *adamConsts32, mode int) int {
	n := len(value)
	grad, m, v = grad[:n], m[:n], v[:n]
	switch isa := compute.Current(); {
	case n == 0 || isa < compute.AVX2:
		return 0
	case isa >= compute.AVX512:
		adam32AVX512(&value[0], &grad[0], &m[0], &v[0], n, c, mode)
		return n
	}
	k := n &^ 7
	if k > 0 {
		adam32AVX2(&value[0], &grad[0], &m[0], &v[0], k, c, mode)
	}
	return k
}
