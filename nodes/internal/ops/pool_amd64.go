//go:build amd64 && !purego

package ops

import "github.com/unroll-ml/unroll/internal/compute"

// The 2x2 max pooling with stride 2 has an AVX-512 version only (pool_amd64.s): it takes each
// window's four values apart with two-table permutes and its first maximum with mask
// registers, which AVX2 has no cheap counterpart for; the AVX2 path runs the Go loops.

//go:noescape
func maxPool2x2AVX512(dst, src *float32, ho, wo, pitch int)

//go:noescape
func maxPoolGrad2x2AVX512(dx, x, dy *float32, ho, wo, pitch, i0, j0 int, relu bool) int

// maxPool2x2Plane sets dst (ho x wo) to the 2x2 max pooling with stride 2 of src, rows of
// pitch values, as Go's max(max(a, b), max(c, e)) over each window's top pair a, b and bottom
// pair c, e, with AVX-512 in one call for the plane, and reports whether it did.
func maxPool2x2Plane(dst, src []float32, ho, wo, pitch int) bool {
	if ho <= 0 || wo <= 0 || compute.Current() < compute.AVX512 {
		return false
	}
	_, _ = dst[ho*wo-1], src[(2*ho-1)*pitch+2*wo-1]
	maxPool2x2AVX512(&dst[0], &src[0], ho, wo, pitch)
	return true
}

// maxPoolGrad2x2From writes the gradient of the windows of one plane from window k (row-major,
// i·wo + j) on, as maxPoolGrad2x2 does, with AVX-512, up to the first block of 16 windows of a
// row that holds a NaN, and returns the window it stopped at (k without AVX-512).
func maxPoolGrad2x2From(d poolDims, xp, dyp, dxp []float32, k int, relu bool) int {
	n := d.ho * d.wo
	if k >= n || compute.Current() < compute.AVX512 {
		return k
	}
	last := (2*d.ho-1)*d.w + 2*d.wo - 1
	_, _, _ = xp[last], dxp[last], dyp[n-1]
	return maxPoolGrad2x2AVX512(&dxp[0], &xp[0], &dyp[0], d.ho, d.wo, d.w, k/d.wo, k%d.wo, relu)
}
