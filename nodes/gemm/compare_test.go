//go:build openblas && cgo

package gemm

import (
	"github.com/unroll-ml/unroll/internal/compute"

	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/unroll-ml/unroll/nodes/gemm/internal/cblas"
)

var (
	compare      = flag.Bool("gemm.compare", false, "time the native kernel against OpenBLAS on the workload shapes")
	comparePairs = flag.Int("gemm.pairs", 7, "alternating native/OpenBLAS measurements per shape")
	compareMin   = flag.Duration("gemm.mintime", 50*time.Millisecond, "minimum CPU time of one measurement")
	compareISA   = flag.String("gemm.isa", "", "instruction set of the native kernel: generic, avx2 or avx512 (default: the best this machine has)")
)

// TestNativeMatchesOpenBLAS compares each native kernel this machine runs
// with OpenBLAS on every workload shape.
func TestNativeMatchesOpenBLAS(t *testing.T) {
	for _, isa := range compute.Each() {
		kern := kernelFor(isa)
		for _, s := range workloadShapes {
			if testing.Short() && s.flops() > 1e8 {
				continue
			}
			a, lda, b, ldb, c0, ldc := shapeOperands(s)
			c1 := slices.Clone(c0)
			gemm(kern, compute.Threads(), s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0.5, c0, ldc)
			cblas.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0.5, c1, ldc)
			// Entries are sums of k products of values in [-1, 1].
			tol := float64(s.k) * 0x1p-21
			for i := range c0 {
				if d := math.Abs(float64(c0[i] - c1[i])); !(d <= tol) {
					t.Fatalf("%s %v: C[%d] native %g, OpenBLAS %g", kern.name, s, i, c0[i], c1[i])
				}
			}
		}
	}
}

// compareKernel returns the native kernel that -gemm.isa names.
func compareKernel(t *testing.T) *kernel[float32] {
	if *compareISA == "" {
		return kernel32()
	}
	for _, isa := range compute.Each() {
		if isa.String() == *compareISA {
			return kernelFor(isa)
		}
	}
	t.Fatalf("-gemm.isa=%s: this machine runs %v", *compareISA, compute.Each())
	return nil
}

// TestCompareOpenBLAS prints, for each workload shape, the single-threaded
// GFLOP/s of the native kernel and of OpenBLAS, measured alternately, and
// the median of the per-pair ratios. Speeds are taken from the CPU time of
// the measuring thread, which other processes on a shared machine disturb
// far less than the wall clock; the wall-clock ratio is printed beside it.
// Run it with OPENBLAS_NUM_THREADS=1:
//
//	OPENBLAS_NUM_THREADS=1 go test -tags openblas -run CompareOpenBLAS -gemm.compare ./nodes/gemm/
func TestCompareOpenBLAS(t *testing.T) {
	if !*compare {
		t.Skip("run with -gemm.compare")
	}
	defer compute.SetThreads(compute.SetThreads(1))
	kern := compareKernel(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w := os.Stdout
	fmt.Fprintf(w, "native %s (1 goroutine) vs OpenBLAS %s (%d thread(s), OPENBLAS_NUM_THREADS=%q), %d pairs\n",
		kern.name, cblas.Core(), cblas.Threads(), os.Getenv("OPENBLAS_NUM_THREADS"), *comparePairs)
	fmt.Fprintf(w, "%-32s %9s %9s %7s %7s\n", "shape (MxNxK)", "native", "openblas", "ratio", "wall")
	var ratios []float64
	for _, s := range workloadShapes {
		a, lda, b, ldb, c, ldc := shapeOperands(s)
		native := func() {
			gemm(kern, 1, s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, ldc)
		}
		openblas := func() {
			cblas.Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, ldc)
		}
		var gn, gb, rs, rw []float64
		for range *comparePairs {
			xc, xw := gflops(s, native)
			yc, yw := gflops(s, openblas)
			gn, gb = append(gn, xc), append(gb, yc)
			rs, rw = append(rs, xc/yc), append(rw, xw/yw)
		}
		r := median(rs)
		ratios = append(ratios, r)
		fmt.Fprintf(w, "%-32s %9.1f %9.1f %6.0f%% %6.0f%%\n", s, median(gn), median(gb), 100*r, 100*median(rw))
	}
	fmt.Fprintf(w, "GFLOP/s per CPU second (medians); ratio = median of per-pair native/OpenBLAS\n")
	fmt.Fprintf(w, "minimum ratio %.0f%%, geometric mean %.0f%%\n", 100*slices.Min(ratios), 100*geomean(ratios))
}

// gflops runs f repeatedly for at least -gemm.mintime of thread CPU time
// and returns its speed by CPU time and by wall clock. The caller has locked
// its OS thread.
func gflops(s shape, f func()) (cpu, wall float64) {
	f() // warm caches and buffers
	n := 0
	c0, w0 := threadCPU(), time.Now()
	for threadCPU()-c0 < *compareMin {
		f()
		n++
	}
	fl := s.flops() * float64(n) / 1e9
	return fl / (threadCPU() - c0).Seconds(), fl / time.Since(w0).Seconds()
}

func median(x []float64) float64 {
	y := slices.Clone(x)
	slices.Sort(y)
	if len(y)%2 == 1 {
		return y[len(y)/2]
	}
	return (y[len(y)/2-1] + y[len(y)/2]) / 2
}

func geomean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += math.Log(v)
	}
	return math.Exp(s / float64(len(x)))
}
