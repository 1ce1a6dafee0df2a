package gemm

import (
	"github.com/unroll-ml/unroll/internal/compute"

	"fmt"
	"math/rand/v2"
	"testing"
)

// shape is a GEMM that the standard workloads perform: op(A) is m x k,
// op(B) is k x n, with the transposes as they arise.
type shape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

func (s shape) flops() float64 { return 2 * float64(s.m) * float64(s.n) * float64(s.k) }

func (s shape) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s_%s%s_%dx%dx%d", s.name, t(s.transA), t(s.transB), s.m, s.n, s.k)
}

// workloadShapes are the products of W1 (conv as im2col, dense), W2 (LSTM
// step, output head) and W4 (the same conv shape as W1's conv2), forward and
// backward.
var workloadShapes = []shape{
	// W1/W4 conv2 as im2col: cols (12544 x 288) times the kernel.
	{"conv2_fwd", false, false, 12544, 64, 288},
	{"conv2_fwd", false, true, 12544, 64, 288}, // kernel stored (64, 288)
	{"conv2_dW", true, false, 64, 288, 12544},  // dY^T cols, K = 12544
	{"conv2_dW", true, false, 288, 64, 12544},  // cols^T dY
	{"conv2_dX", false, false, 12544, 288, 64}, // dY times the kernel
	// W1 conv1: K = 9.
	{"conv1_fwd", false, false, 50176, 32, 9},
	{"conv1_dW", true, false, 32, 9, 50176}, // N = 9
	// W1 dense 3136 -> 128.
	{"dense_fwd", false, false, 64, 128, 3136},
	{"dense_fwd", false, true, 64, 128, 3136}, // weight stored (128, 3136)
	{"dense_dX", false, false, 64, 3136, 128},
	{"dense_dW", true, false, 3136, 128, 64},
	// W1 dense 128 -> 10: small N and small K.
	{"dense2_fwd", false, true, 64, 10, 128}, // weight stored (10, 128)
	{"dense2_dX", false, false, 64, 128, 10},
	{"dense2_dW", true, false, 10, 128, 64},
	// W2 LSTM step: x W^T with W stored (1024, 256), and its backward.
	{"lstm_fwd", false, true, 32, 1024, 256},
	{"lstm_dX", false, false, 32, 256, 1024},
	{"lstm_dW", true, false, 1024, 256, 32},
	// W2 output head over a 64-step segment: 2048 x 256 times W^T (96, 256).
	{"head_fwd", false, true, 2048, 96, 256},
	{"head_dX", false, false, 2048, 256, 96},
	{"head_dW", true, false, 96, 256, 2048},
}

// shapeOperands returns random operands for s in packed storage.
func shapeOperands(s shape) (a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	rng := rand.New(rand.NewPCG(uint64(s.m), uint64(s.n*s.k)))
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = rng.Float32()*2 - 1
		}
		return x
	}
	lda, ldb = s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	return rnd(s.m * s.k), lda, rnd(s.k * s.n), ldb, rnd(s.m * s.n), s.n
}

// BenchmarkSgemm measures the active implementation (Impl) on each workload
// shape with one goroutine and, where there are more cores, with all of
// them.
func BenchmarkSgemm(b *testing.B) {
	threads := []int{1}
	if compute.MaxThreads() > 1 {
		threads = append(threads, compute.MaxThreads())
	}
	for _, s := range workloadShapes {
		for _, th := range threads {
			name := s.String()
			name += fmt.Sprintf("/threads=%d", th)
			b.Run(name, func(b *testing.B) {
				defer compute.SetThreads(compute.SetThreads(th))
				a, lda, bb, ldb, c, ldc := shapeOperands(s)
				for b.Loop() {
					Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, ldc)
				}
				b.ReportMetric(s.flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkSgemmGeneric measures the portable Go kernel on one goroutine.
func BenchmarkSgemmGeneric(b *testing.B) {
	for _, s := range workloadShapes[:3] {
		b.Run(s.String(), func(b *testing.B) {
			a, lda, bb, ldb, c, ldc := shapeOperands(s)
			for b.Loop() {
				gemm(&genericKernel32, 1, s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, ldc)
			}
			b.ReportMetric(s.flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
