//go:build !amd64 || purego

package ops

// sigmoids32 replaces every x of s by sigmoid32(x).
func sigmoids32(s []float32) {
	for i, x := range s {
		s[i] = sigmoid32(x)
	}
}

// tanhs32 replaces every x of s by tanh32(x).
func tanhs32(s []float32) {
	for i, x := range s {
		s[i] = tanh32(x)
	}
}

// lstmBackwardRow32 is done by the Go loop on this platform.
func lstmBackwardRow32(g4, tc, cp, gout, dg, dc []float32, h int) int { return 0 }

// gruBackwardRow32 is done by the Go loop on this platform.
func gruBackwardRow32(gates, gout, hp, dgi, dgh, dh []float32, h int) int { return 0 }
