package gemm

import (
	"github.com/unroll-ml/unroll/internal/compute"

	"math"
	"math/rand/v2"
	"testing"
)

// SgemmPacked gives the same bits as the native Sgemm, for both transposes, edges that cut the
// tiles, several blocks of k, any beta and any number of threads, and one packing serves many
// calls; on each instruction set.
func TestSgemmPackedMatchesSgemm(t *testing.T) {
	onEachISA(t, packedMatchesSgemm)
}

func packedMatchesSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	defer compute.SetThreads(compute.SetThreads(0))
	var p PackedB // reused from case to case
	for _, tc := range []gemmCase{
		{m: 32, n: 1024, k: 256, transB: true, alpha: 1, beta: 1},
		{m: 32, n: 256, k: 1024, alpha: 1, beta: 0},
		{m: 32, n: 768, k: 256, transB: true, alpha: 1, beta: 1, padC: 256},
		{m: 7, n: 37, k: 900, transA: true, alpha: -0.5, beta: 0.25, padA: 3, padB: 5, padC: 2},
		{m: 13, n: 5, k: 3, transB: true, alpha: 2, beta: 0},
		{m: 1, n: 1, k: 1, alpha: 1, beta: 1},
		{m: 5, n: 9, k: 0, alpha: 1, beta: 0.5},
	} {
		o := makeOperands(tc, rng)
		a, b := to32(o.a), to32(o.b)
		p.Pack(tc.transB, tc.k, tc.n, b, o.ldb)
		for _, threads := range []int{1, 2, 3} {
			compute.SetThreads(threads)
			want, got := to32(o.c), to32(o.c)
			if packedByOpenBLAS(kernel32()) {
				sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, float32(tc.alpha), a, o.lda, b, o.ldb, float32(tc.beta), want, o.ldc)
			} else if tc.m > 0 && tc.n > 0 {
				gemm(kernel32(), threads, tc.transA, tc.transB, tc.m, tc.n, tc.k, float32(tc.alpha), a, o.lda, b, o.ldb, float32(tc.beta), want, o.ldc)
			}
			for rep := 0; rep < 2; rep++ {
				copy(got, to32(o.c))
				SgemmPacked(tc.transA, tc.m, float32(tc.alpha), a, o.lda, &p, float32(tc.beta), got, o.ldc)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%v threads=%d: element %d is %v, Sgemm gives %v", tc, threads, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// A packing made for one instruction set still gives the right bits, those of the native
// Sgemm with the kernel in use, after the instruction set changes: SgemmPacked then works from
// B itself, and Pack makes a packing for the new kernel.
func TestSgemmPackedAfterISAChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 7))
	defer compute.SetISA(compute.Current())
	tc := gemmCase{m: 13, n: 70, k: 500, transB: true, alpha: 0.5, beta: 1}
	o := makeOperands(tc, rng)
	a, b := to32(o.a), to32(o.b)
	for _, from := range compute.Each() {
		for _, to := range compute.Each() {
			compute.SetISA(from)
			var p PackedB
			p.Pack(tc.transB, tc.k, tc.n, b, o.ldb)
			compute.SetISA(to)
			want, got := to32(o.c), to32(o.c)
			if kern := kernel32(); packedByOpenBLAS(kern) {
				sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, float32(tc.alpha), a, o.lda, b, o.ldb, float32(tc.beta), want, o.ldc)
			} else {
				gemm(kern, compute.Threads(), tc.transA, tc.transB, tc.m, tc.n, tc.k, float32(tc.alpha), a, o.lda, b, o.ldb, float32(tc.beta), want, o.ldc)
			}
			for rep := 0; rep < 2; rep++ {
				copy(got, to32(o.c))
				SgemmPacked(tc.transA, tc.m, float32(tc.alpha), a, o.lda, &p, float32(tc.beta), got, o.ldc)
				if i, ok := bitsEqual32(got, want); !ok {
					t.Fatalf("packed for %v, run on %v (pass %d): element %d is %v, the native Sgemm gives %v", from, to, rep, i, got[i], want[i])
				}
				p.Pack(tc.transB, tc.k, tc.n, b, o.ldb) // the second pass uses a fresh packing
			}
		}
	}
}

func TestSgemmPackedPanics(t *testing.T) {
	var p PackedB
	p.Pack(false, 4, 3, make([]float32, 12), 3)
	for name, f := range map[string]func(){
		"short b":  func() { p.Pack(false, 4, 3, make([]float32, 11), 3) },
		"short a":  func() { SgemmPacked(false, 2, 1, make([]float32, 7), 4, &p, 0, make([]float32, 6), 3) },
		"short c":  func() { SgemmPacked(false, 2, 1, make([]float32, 8), 4, &p, 0, make([]float32, 5), 3) },
		"nil pack": func() { SgemmPacked(false, 2, 1, make([]float32, 8), 4, nil, 0, make([]float32, 6), 3) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
