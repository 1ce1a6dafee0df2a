//go:build !amd64 || purego

package compute

// anyNonFinite32 is never called on this platform (Current is never AVX512).
func anyNonFinite32(p *float32, n int) bool { return false }
