//go:build amd64 && !purego

package ops

import "github.com/unroll-ml/unroll/internal/compute"

// The 2x2 max pooling with stride 2 has an AVX-512 version only (pool_amd64.s): it takes each
// window's four values apart with two-table permutes and its first maximum with mask
// registers, which AVX2 has no cheap counterpart for; the AVX2 path runs the Go loops.

//go:noescape
func maxPool2x2AVX512(out, r0, r1 *float32, n int)

//go:noescape
func maxPool2x2PlaneAVX512(dst, src *float32, ho, wo, wp int)

//go:noescape
func maxPoolGrad2x2AVX512(d0, d1, x0, x1, dy *float32, n int, relu bool) int

// maxPool2x2Row sets out[j] = max(max(r0[2j], r0[2j+1]), max(r1[2j], r1[2j+1])) for every j
// with AVX-512 and reports whether it did.
func maxPool2x2Row(out, r0, r1 []float32) bool {
	n := len(out)
	if n == 0 || compute.Current() < compute.AVX512 {
		return false
	}
	_, _ = r0[2*n-1], r1[2*n-1]
	maxPool2x2AVX512(&out[0], &r0[0], &r1[0], n)
	return true
}

// maxPoolGrad2x2Row writes the gradient of the windows of one row pair from window j on, as
// maxPoolGrad2x2 does, with AVX-512, up to the first block of 16 windows that holds a NaN, and
// returns the window it stopped at (j without AVX-512).
func maxPoolGrad2x2Row(d0, d1, x0, x1, g []float32, j int, relu bool) int {
	n := len(g) - j
	if n <= 0 || compute.Current() < compute.AVX512 {
		return j
	}
	_, _, _, _ = d0[2*len(g)-1], d1[2*len(g)-1], x0[2*len(g)-1], x1[2*len(g)-1]
	return j + maxPoolGrad2x2AVX512(&d0[2*j], &d1[2*j], &x0[2*j], &x1[2*j], &g[j], n, relu)
}

// maxPool2x2Plane sets dst (ho x wo) to the 2x2 max pooling with stride 2 of src, rows of wp
// values holding no NaN and no -0 (ReLU outputs), with AVX-512 in one call for the plane, and
// reports whether it did.
func maxPool2x2Plane(dst, src []float32, ho, wo, wp int) bool {
	if ho <= 0 || wo <= 0 || compute.Current() < compute.AVX512 {
		return false
	}
	_, _ = dst[ho*wo-1], src[(2*ho-1)*wp+2*wo-1]
	maxPool2x2PlaneAVX512(&dst[0], &src[0], ho, wo, wp)
	return true
}
