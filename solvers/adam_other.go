//go:build !amd64 || purego

package solvers

// adamVector32 does nothing on this platform: the Go loop does every parameter.
func adamVector32(value, grad, m, v []float32, c *adamConsts32, mode int) int { return 0 }
