//go:build amd64 && !purego

package ops

import "github.com/unroll-ml/unroll/internal/compute"

//go:generate go run conv_gen.go

//go:noescape
func convDirect1x1(a *convKernelArgs)

//go:noescape
func convDirect1x2(a *convKernelArgs)

//go:noescape
func convDirect1x3(a *convKernelArgs)

//go:noescape
func convDirect1x4(a *convKernelArgs)

//go:noescape
func convDirect1x5(a *convKernelArgs)

//go:noescape
func convDirect1x6(a *convKernelArgs)

//go:noescape
func convDirect1x7(a *convKernelArgs)

//go:noescape
func convDirect1x8(a *convKernelArgs)

//go:noescape
func convDirect1x9(a *convKernelArgs)

//go:noescape
func convDirect1x10(a *convKernelArgs)

//go:noescape
func convDirect1x11(a *convKernelArgs)

//go:noescape
func convDirect1x12(a *convKernelArgs)

//go:noescape
func convDirect1x13(a *convKernelArgs)

//go:noescape
func convDirect1x14(a *convKernelArgs)

//go:noescape
func convDirect1x15(a *convKernelArgs)

//go:noescape
func convDirect1x16(a *convKernelArgs)

//go:noescape
func convDirect2x1(a *convKernelArgs)

//go:noescape
func convDirect2x2(a *convKernelArgs)

//go:noescape
func convDirect2x3(a *convKernelArgs)

//go:noescape
func convDirect2x4(a *convKernelArgs)

//go:noescape
func convDirect2x5(a *convKernelArgs)

//go:noescape
func convDirect2x6(a *convKernelArgs)

//go:noescape
func convDirect2x7(a *convKernelArgs)

//go:noescape
func convDirect2x8(a *convKernelArgs)

//go:noescape
func convDirect2x9(a *convKernelArgs)

//go:noescape
func convDirect2x10(a *convKernelArgs)

//go:noescape
func convDirect2x11(a *convKernelArgs)

//go:noescape
func convDirect2x12(a *convKernelArgs)

//go:noescape
func convDirect2x13(a *convKernelArgs)

//go:noescape
func convDirect2x14(a *convKernelArgs)

//go:noescape
func convDirect3x1(a *convKernelArgs)

//go:noescape
func convDirect3x2(a *convKernelArgs)

//go:noescape
func convDirect3x3(a *convKernelArgs)

//go:noescape
func convDirect3x4(a *convKernelArgs)

//go:noescape
func convDirect3x5(a *convKernelArgs)

//go:noescape
func convDirect3x6(a *convKernelArgs)

//go:noescape
func convDirect3x7(a *convKernelArgs)

//go:noescape
func convDirect3x8(a *convKernelArgs)

//go:noescape
func convDirect3x9(a *convKernelArgs)

//go:noescape
func convDirect4x1(a *convKernelArgs)

//go:noescape
func convDirect4x2(a *convKernelArgs)

//go:noescape
func convDirect4x3(a *convKernelArgs)

//go:noescape
func convDirect4x4(a *convKernelArgs)

//go:noescape
func convDirect4x5(a *convKernelArgs)

//go:noescape
func convDirect4x6(a *convKernelArgs)

// convDirectKernels[v-1][m-1] is the micro-kernel for 16·v outputs of m channels
// (conv_gen.go).
var convDirectKernels = [4][]func(*convKernelArgs){
	{convDirect1x1, convDirect1x2, convDirect1x3, convDirect1x4, convDirect1x5, convDirect1x6, convDirect1x7, convDirect1x8, convDirect1x9, convDirect1x10, convDirect1x11, convDirect1x12, convDirect1x13, convDirect1x14, convDirect1x15, convDirect1x16},
	{convDirect2x1, convDirect2x2, convDirect2x3, convDirect2x4, convDirect2x5, convDirect2x6, convDirect2x7, convDirect2x8, convDirect2x9, convDirect2x10, convDirect2x11, convDirect2x12, convDirect2x13, convDirect2x14},
	{convDirect3x1, convDirect3x2, convDirect3x3, convDirect3x4, convDirect3x5, convDirect3x6, convDirect3x7, convDirect3x8, convDirect3x9},
	{convDirect4x1, convDirect4x2, convDirect4x3, convDirect4x4, convDirect4x5, convDirect4x6},
}

// directKernelTiles lists the (v, m) of the micro-kernels.
func directKernelTiles() [][2]int {
	var out [][2]int
	for v, ks := range convDirectKernels {
		for m := range ks {
			out = append(out, [2]int{v + 1, m + 1})
		}
	}
	return out
}

//go:noescape
func convWeight4x1(a *convWeightArgs)

//go:noescape
func convWeight4x2(a *convWeightArgs)

//go:noescape
func convWeight4x3(a *convWeightArgs)

//go:noescape
func convWeight4x4(a *convWeightArgs)

//go:noescape
func convWeight4x5(a *convWeightArgs)

//go:noescape
func convWeight4x6(a *convWeightArgs)

// convWeightKernels[mk-1] is the kernel-gradient micro-kernel for weightTileO output channels
// and mk shifted input planes (conv_gen.go).
var convWeightKernels = [weightTileR]func(*convWeightArgs){
	convWeight4x1, convWeight4x2, convWeight4x3, convWeight4x4, convWeight4x5, convWeight4x6,
}

// convWeightKernel runs the kernel-gradient micro-kernel for mk shifted input planes.
func convWeightKernel(mk int, a *convWeightArgs) { convWeightKernels[mk-1](a) }

// directConvAvailable reports whether the direct convolution runs: with AVX-512 only.
func directConvAvailable() bool { return compute.Current() >= compute.AVX512 }

// convDirectKernel runs the micro-kernel for 16·v outputs of m channels.
func convDirectKernel(v, m int, a *convKernelArgs) { convDirectKernels[v-1][m-1](a) }

//go:noescape
func convExpand(a *packArgs)

//go:noescape
func convCompress(a *packArgs)
