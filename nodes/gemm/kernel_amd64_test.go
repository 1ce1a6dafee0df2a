//go:build amd64 && !purego

package gemm

import (
	"strconv"
	"testing"

	"github.com/unroll-ml/unroll/internal/compute"
)

// BenchmarkKernel measures each assembly micro-kernel this machine runs
// alone, on operands that stay in L1: the ceiling of the native
// implementation.
func BenchmarkKernel(b *testing.B) {
	for _, isa := range compute.Each() {
		kern := kernelFor(isa)
		if isa == compute.Generic || kern != isaKernels32[isa] {
			continue
		}
		for _, k := range []int{9, 64, 384} {
			b.Run(kern.name+"/k="+strconv.Itoa(k), func(b *testing.B) {
				ap, bp, c := make([]float32, kern.mr*k), make([]float32, kern.nr*k), make([]float32, kern.mr*kern.nr)
				for i := range ap {
					ap[i] = 1
				}
				for b.Loop() {
					kern.fn(k, ap, bp, c, kern.nr, 1, 1)
				}
				b.ReportMetric(2*float64(kern.mr*kern.nr*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
