//go:build !amd64 || purego

package ops

// maxPool2x2Plane leaves the plane to the Go loop on this platform.
func maxPool2x2Plane(dst, src []float32, ho, wo, pitch int) bool { return false }

// maxPoolGrad2x2From leaves the plane to the Go loop on this platform.
func maxPoolGrad2x2From(d poolDims, xp, dyp, dxp []float32, k int, relu bool) int { return k }
