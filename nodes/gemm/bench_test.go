package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/unroll-ml/unroll/internal/compute"
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

// benchThreads are the goroutine counts the benchmarks use: one and, where
// there are more cores, all of them.
func benchThreads() []int {
	if compute.MaxThreads() > 1 {
		return []int{1, compute.MaxThreads()}
	}
	return []int{1}
}

// benchPath is an instruction set to force and the implementation (Impl)
// that Sgemm then runs.
type benchPath struct {
	isa  compute.ISA
	impl string
}

// benchPaths are the paths BenchmarkSgemm and BenchmarkSgemm2048 measure in
// turn: each assembly kernel this machine runs, or the one implementation
// there is (generic, or openblas in the openblas build).
func benchPaths() []benchPath {
	defer compute.SetISA(compute.Current())
	var l []benchPath
	for _, isa := range compute.Each() {
		compute.SetISA(isa)
		if impl := Impl(); impl != "generic" && (len(l) == 0 || l[len(l)-1].impl != impl) {
			l = append(l, benchPath{isa, impl})
		}
	}
	if len(l) == 0 {
		l = append(l, benchPath{compute.Generic, Impl()})
	}
	return l
}

// benchSgemm times Sgemm on s with the instruction set forced to isa and th
// goroutines. It reports GFLOP/s by the wall clock and, on one goroutine
// where the system tells a thread's CPU time, GFLOP/s per CPU second of the
// benchmarking thread ("GFLOP/s-cpu"), which other processes on a shared
// machine disturb less: they take the core away, but not while the thread's
// clock runs.
func benchSgemm(b *testing.B, s shape, isa compute.ISA, th int) {
	prev, err := compute.SetISA(isa)
	if err != nil {
		b.Skip(err)
	}
	defer compute.SetISA(prev)
	defer compute.SetThreads(compute.SetThreads(th))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	a, lda, bb, ldb, c, ldc := shapeOperands(s)
	Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, ldc) // warm the buffers
	cpu0 := threadCPU()
	for b.Loop() {
		Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, ldc)
	}
	cpu := threadCPU() - cpu0
	flops := s.flops() * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if th == 1 && cpu > 0 {
		b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/s-cpu")
	}
}

// BenchmarkSgemm measures Sgemm on each workload shape with each path of
// benchPaths, named by Impl (impl=avx512, impl=avx2-fma; impl=generic or
// impl=openblas where there is one path), on one goroutine and on all of
// them. Compare the paths with
//
//	go test -run '^$' -bench 'Sgemm$' -count 6 ./nodes/gemm/ > new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /impl new.txt
func BenchmarkSgemm(b *testing.B) {
	for _, s := range workloadShapes {
		for _, th := range benchThreads() {
			for _, p := range benchPaths() {
				b.Run(fmt.Sprintf("%s/threads=%d/impl=%s", s, th, p.impl), func(b *testing.B) {
					benchSgemm(b, s, p.isa, th)
				})
			}
		}
	}
}

// BenchmarkSgemm2048 measures the square product M = N = K = 2048, the
// yardstick of a matrix multiply's speed against the processor's peak, with
// each path and thread count as BenchmarkSgemm does.
func BenchmarkSgemm2048(b *testing.B) {
	s := shape{"square", false, false, 2048, 2048, 2048}
	for _, th := range benchThreads() {
		for _, p := range benchPaths() {
			b.Run(fmt.Sprintf("threads=%d/impl=%s", th, p.impl), func(b *testing.B) {
				benchSgemm(b, s, p.isa, th)
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
