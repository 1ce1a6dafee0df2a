//go:build amd64 && !purego

package gemm

import (
	"strconv"
	"testing"
)

// BenchmarkKernelAVX2 measures the micro-kernel alone on operands that stay
// in L1: the ceiling of the native implementation.
func BenchmarkKernelAVX2(b *testing.B) {
	if nativeKernel32 != &avx2Kernel32 {
		b.Skip("no AVX2+FMA")
	}
	for _, k := range []int{9, 64, 256} {
		b.Run("k="+strconv.Itoa(k), func(b *testing.B) {
			ap, bp, c := make([]float32, 6*k), make([]float32, 16*k), make([]float32, 6*16)
			for i := range ap {
				ap[i] = 1
			}
			for b.Loop() {
				sgemmAVX2(k, ap, bp, c, 16, 1, 1)
			}
			b.ReportMetric(2*6*16*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
