//go:build !amd64 || purego

package ops

// directConvAvailable reports whether the direct convolution runs: never on this platform,
// where convolutions take the im2col path.
func directConvAvailable() bool { return false }

// directKernelTiles lists no micro-kernels: there are none on this platform.
func directKernelTiles() [][2]int { return [][2]int{{1, 1}} }

// convDirectKernel is never called on this platform (directConvAvailable is false).
func convDirectKernel(v, m int, a *convKernelArgs) {}

// convWeightKernel is never called on this platform (directConvAvailable is false).
func convWeightKernel(mk int, a *convWeightArgs) {}

// convExpand is never called on this platform (directConvAvailable is false).
func convExpand(a *packArgs) {}

// convCompress is never called on this platform (directConvAvailable is false).
func convCompress(a *packArgs) {}
