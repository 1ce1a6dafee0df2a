package ops

import (
	"math"

	"github.com/unroll-ml/unroll/internal/compute"
)

// The gradient of the 2x2 max pooling with stride 2, the common case, without branches (and
// with AVX-512 where the processor allows, pool_amd64.go); poolGradPlane is the general rule
// it agrees with.

// maxPoolGrad2x2 writes the gradient of one plane of a 2x2 max pooling with stride 2: each
// Window's four elements of dx get dy at the Window's first maximum and 0 elsewhere, as in
// poolGradPlane. The maximum is found without branches, on integer keys that order the
// floats as < does (with -0 = +0); a Window holding a NaN takes the general rule (the last
// NaN gets the gradient). With relu, a maximum not above 0 gets 0.
func maxPoolGrad2x2(d poolDims, relu bool, xp, dyp, dxp []float32) {
	var keepAll uint32 // all ones: the gradient passes whatever the maximum
	if !relu {
		keepAll = ^uint32(0)
	}
	for k := 0; k < d.ho*d.wo; {
		if s := maxPoolGrad2x2From(d, xp, dyp, dxp, k, relu); s > k {
			k = s // AVX-512, up to a block of 16 windows of a row that holds a NaN
			continue
		}
		i, j := k/d.wo, k%d.wo
		end := d.wo
		if compute.Current() >= compute.AVX512 {
			end = min(j+16, d.wo) // that block, then AVX-512 again
		}
		for ; j < end; j++ {
			maxPoolGradWindow(xp, dxp, 2*i*d.w+2*j, (2*i+1)*d.w+2*j, dyp[i*d.wo+j], relu, keepAll)
		}
		k = i*d.wo + end
	}
}

// maxPoolGradWindow writes the gradient gj of one window of maxPoolGrad2x2 into dxp, the
// window's top pair at xp[top:top+2] and its bottom pair at xp[bottom:bottom+2]; keepAll is
// all ones without relu.
func maxPoolGradWindow(xp, dxp []float32, top, bottom int, gj float32, relu bool, keepAll uint32) {
	a, b := xp[top:top+2], xp[bottom:bottom+2]
	o0, o1 := dxp[top:top+2], dxp[bottom:bottom+2]
	ka, ma := orderKey(a[0])
	kb, mb := orderKey(a[1])
	kc, mc := orderKey(b[0])
	ke, me := orderKey(b[1])
	o0[0], o0[1], o1[0], o1[1] = 0, 0, 0, 0
	var at int
	var pass uint32                       // all ones when the gradient passes
	if max(ma, mb, mc, me) > 0x7f800000 { // a NaN, rare
		at = -1
		var best float32
		for k, v := range [4]float32{a[0], a[1], b[0], b[1]} {
			if at < 0 || v > best || v != v {
				best, at = v, k
			}
		}
		if !relu || best > 0 {
			pass = ^uint32(0)
		}
	} else {
		m := max(ka, kb, kc, ke)
		na := b2i(ka != m)
		nb := b2i(kb != m)
		nc := b2i(kc != m)
		at = na * (1 + nb*(1+nc))              // the first of the four equal to the maximum
		pass = keepAll | uint32(int32(-m)>>31) // or ones when m > 0 (keys order as the values)
	}
	g := math.Float32frombits(math.Float32bits(gj) & pass)
	dxp[top+(at>>1)*(bottom-top)+at&1] = g // the top pair or the bottom one, without a branch
}

// orderKey returns an integer that orders float32 values as < does, with -0 equal to +0 (the
// magnitude, negated for negative values), and the magnitude's bits, above 0x7f800000 for NaN.
func orderKey(v float32) (key, mag int32) {
	u := math.Float32bits(v)
	mag = int32(u & 0x7fffffff)
	s := int32(u) >> 31
	return (mag ^ s) - s, mag
}

// b2i is 1 for true and 0 for false, without a branch.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
