//go:build !amd64 || purego

package ops

// maxPool2x2Row leaves the row to the Go loop on this platform.
func maxPool2x2Row(out, r0, r1 []float32) bool { return false }

// maxPoolGrad2x2Row leaves the row to the Go loop on this platform.
func maxPoolGrad2x2Row(d0, d1, x0, x1, g []float32, j int, relu bool) int { return j }

// maxPool2x2Plane leaves the plane to the Go loop on this platform.
func maxPool2x2Plane(dst, src []float32, ho, wo, wp int) bool { return false }
