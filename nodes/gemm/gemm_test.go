package gemm

import (
	"github.com/unroll-ml/unroll/internal/compute"
	"runtime"

	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// gemmCase is one product with its storage: op(A) is m x k, op(B) k x n.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	padA, padB     int // extra elements per stored row (ld = cols + pad)
	padC           int
	alpha, beta    float64
	nanC           bool // fill C with NaN (only meaningful with beta == 0)
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d pads=%d,%d,%d alpha=%g beta=%g nanC=%v",
		tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.padA, tc.padB, tc.padC, tc.alpha, tc.beta, tc.nanC)
}

// operands holds a case's matrices in float64; the float32 copies are
// rounded from them, so both precisions see the same values.
type operands struct {
	a, b, c       []float64
	lda, ldb, ldc int
}

// sentinel fills the padding of every matrix: NaN in A and B (reading it
// would poison the result) and a marker in C (writing it is detected).
const cPad = -12345.0

func makeOperands(tc gemmCase, rng *rand.Rand) operands {
	rowsA, colsA := tc.m, tc.k
	if tc.transA {
		rowsA, colsA = tc.k, tc.m
	}
	rowsB, colsB := tc.k, tc.n
	if tc.transB {
		rowsB, colsB = tc.n, tc.k
	}
	var o operands
	o.lda, o.ldb, o.ldc = max(1, colsA+tc.padA), max(1, colsB+tc.padB), max(1, tc.n+tc.padC)
	fill := func(rows, cols, ld int, pad float64, nan bool) []float64 {
		s := make([]float64, rows*ld)
		for i := range s {
			if i%ld >= cols {
				s[i] = pad
			} else if nan {
				s[i] = math.NaN()
			} else {
				// Values exactly representable in float32.
				s[i] = float64(float32(rng.Float64()*2 - 1))
			}
		}
		return s
	}
	o.a = fill(rowsA, colsA, o.lda, math.NaN(), false)
	o.b = fill(rowsB, colsB, o.ldb, math.NaN(), false)
	o.c = fill(tc.m, tc.n, o.ldc, cPad, tc.nanC)
	return o
}

// reference computes the product naively in float64 and a bound on the
// rounding error of a float32 computation of each element.
func reference(tc gemmCase, o operands) (want, bound []float64) {
	want = make([]float64, tc.m*tc.n)
	bound = make([]float64, tc.m*tc.n)
	// Rows of op(A) and columns of op(B), contiguous.
	opA := make([]float64, tc.m*tc.k)
	opBT := make([]float64, tc.n*tc.k)
	for p := 0; p < tc.k; p++ {
		for i := 0; i < tc.m; i++ {
			if tc.transA {
				opA[i*tc.k+p] = o.a[p*o.lda+i]
			} else {
				opA[i*tc.k+p] = o.a[i*o.lda+p]
			}
		}
		for j := 0; j < tc.n; j++ {
			if tc.transB {
				opBT[j*tc.k+p] = o.b[j*o.ldb+p]
			} else {
				opBT[j*tc.k+p] = o.b[p*o.ldb+j]
			}
		}
	}
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var s, sa float64
			if tc.alpha != 0 {
				x, y := opA[i*tc.k:(i+1)*tc.k], opBT[j*tc.k:(j+1)*tc.k]
				for p, v := range x {
					s += v * y[p]
					sa += math.Abs(v * y[p])
				}
			}
			v := tc.alpha * s
			mag := math.Abs(tc.alpha) * sa
			if tc.beta != 0 {
				v += tc.beta * o.c[i*o.ldc+j]
				mag += math.Abs(tc.beta * o.c[i*o.ldc+j])
			}
			want[i*tc.n+j] = v
			// float32 summation: at most about (k+2) roundings of size eps.
			bound[i*tc.n+j] = float64(tc.k+3)*0x1p-23*mag + 1e-30
		}
	}
	return want, bound
}

// check compares C (as float64) against the reference and verifies that the
// padding of C is untouched.
func check(t *testing.T, name string, tc gemmCase, o operands, got, want, bound []float64, scale float64) {
	t.Helper()
	bad := 0
	for i := 0; i < tc.m; i++ {
		for j := 0; j < o.ldc; j++ {
			g := got[i*o.ldc+j]
			if j >= tc.n {
				if g != cPad {
					t.Fatalf("%s %v: padding C[%d][%d] changed to %g", name, tc, i, j, g)
				}
				continue
			}
			w, b := want[i*tc.n+j], bound[i*tc.n+j]*scale
			if !(math.Abs(g-w) <= b) {
				if bad++; bad <= 3 {
					t.Errorf("%s %v: C[%d][%d] = %g, want %g (bound %g)", name, tc, i, j, g, w, b)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%s %v: %d wrong elements", name, tc, bad)
	}
}

func to32(s []float64) []float32 {
	r := make([]float32, len(s))
	for i, v := range s {
		r[i] = float32(v)
	}
	return r
}

func to64(s []float32) []float64 {
	r := make([]float64, len(s))
	for i, v := range s {
		r[i] = float64(v)
	}
	return r
}

// impl32 is a way to compute a float32 GEMM under test. kern is the kernel it
// runs, whose arithmetic the check reproduces exactly when it is fused.
type impl32 struct {
	name string
	kern *kernel[float32]
	run  func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
		b []float32, ldb int, beta float32, c []float32, ldc int)
}

// native32 runs the native driver with kern on the given number of
// goroutines, after the same argument checks as Sgemm.
func native32(kern *kernel[float32], threads int) impl32 {
	return impl32{
		name: fmt.Sprintf("%s/threads=%d", kern.name, threads),
		kern: kern,
		run: func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
			b []float32, ldb int, beta float32, c []float32, ldc int) {
			checkArgs("test", transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
			if m > 0 && n > 0 {
				gemm(kern, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			}
		},
	}
}

// sgemmWith runs the public Sgemm with the instruction set forced to isa.
func sgemmWith(isa compute.ISA) impl32 {
	return impl32{
		name: "Sgemm/" + isa.String(),
		kern: kernelFor(isa),
		run: func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
			b []float32, ldb int, beta float32, c []float32, ldc int) {
			prev, err := compute.SetISA(isa)
			if err != nil {
				panic(err)
			}
			defer compute.SetISA(prev)
			Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		},
	}
}

// impls32 lists, for each instruction set this machine supports
// (compute.Each), the public Sgemm forced to it and its kernel run by the
// driver on one and on two goroutines.
func impls32() []impl32 {
	var l []impl32
	for _, isa := range compute.Each() {
		kern := kernelFor(isa)
		l = append(l, sgemmWith(isa), native32(kern, 1), native32(kern, 2))
	}
	return l
}

// runCase32 runs one case with every implementation on the same operands and
// checks each against the float64 reference within the float32 rounding
// bound and, for the fused kernels (when the build does not replace Sgemm by
// OpenBLAS), against fusedReference bit for bit. The portable kernel is held
// to the bound only: it rounds each product before adding it, and Go may
// fuse some of its multiply-adds on other architectures.
func runCase32(t *testing.T, impls []impl32, tc gemmCase, rng *rand.Rand) {
	t.Helper()
	o := makeOperands(tc, rng)
	want, bound := reference(tc, o)
	a, b := to32(o.a), to32(o.b)
	exact := map[int][]float32{} // fusedReference by kc
	for _, im := range impls {
		c := to32(o.c)
		im.run(tc.transA, tc.transB, tc.m, tc.n, tc.k, float32(tc.alpha), a, o.lda,
			b, o.ldb, float32(tc.beta), c, o.ldc)
		check(t, im.name, tc, o, to64(c), want, bound, 1)
		if !im.kern.fused || (Impl() == "openblas" && strings.HasPrefix(im.name, "Sgemm/")) {
			continue
		}
		kc := im.kern.kc
		if exact[kc] == nil {
			exact[kc] = fusedReference(tc, a, o.lda, b, o.ldb, to32(o.c), o.ldc, kc)
		}
		if i, ok := bitsEqual32(c, exact[kc]); !ok {
			t.Fatalf("%s %v: element %d (row %d, col %d) is %v, the fused reference gives %v",
				im.name, tc, i, i/o.ldc, i%o.ldc, c[i], exact[kc][i])
		}
	}
}

var transCases = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}

func TestSgemmSmallSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ks := []int{1, 2, 7, 16, 37}
	if testing.Short() {
		ks = []int{1, 9, 37}
	}
	impls := impls32()
	for _, tr := range transCases {
		for m := 1; m <= 37; m++ {
			for n := 1; n <= 37; n++ {
				for _, k := range ks {
					tc := gemmCase{transA: tr[0], transB: tr[1], m: m, n: n, k: k, alpha: 1, beta: 0}
					runCase32(t, impls, tc, rng)
				}
			}
		}
		for k := 1; k <= 37; k++ {
			for _, mn := range [][2]int{{1, 1}, {6, 16}, {7, 17}, {12, 32}, {37, 5}} {
				tc := gemmCase{transA: tr[0], transB: tr[1], m: mn[0], n: mn[1], k: k, alpha: 1, beta: 1}
				runCase32(t, impls, tc, rng)
			}
		}
	}
}

func TestSgemmAlphaBetaStrides(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	impls := impls32()
	for _, tr := range transCases {
		for _, ab := range [][2]float64{{1, 0}, {1, 1}, {-0.5, 0}, {2, 1}, {0.75, -1.5}, {0, 0}, {0, 2}, {1, math.Copysign(0, -1)}} {
			// 256 rows of Aᵀ (lda = 256 without padding): the AVX-512 path packs Aᵀ
			// then, and reads it in place with padding.
			for _, sz := range [][3]int{{13, 29, 11}, {6, 16, 1}, {25, 33, 70}, {256, 40, 19}} {
				for _, pad := range [][3]int{{0, 0, 0}, {3, 5, 7}, {1, 0, 17}} {
					tc := gemmCase{transA: tr[0], transB: tr[1], m: sz[0], n: sz[1], k: sz[2],
						padA: pad[0], padB: pad[1], padC: pad[2], alpha: ab[0], beta: ab[1]}
					runCase32(t, impls, tc, rng)
				}
			}
		}
	}
}

func TestSgemmBetaZeroOverwritesNaN(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	impls := impls32()
	for _, tr := range transCases {
		for _, sz := range [][3]int{{1, 1, 1}, {6, 16, 5}, {13, 35, 400}, {50, 3, 9}} {
			for _, alpha := range []float64{1, -2, 0} {
				tc := gemmCase{transA: tr[0], transB: tr[1], m: sz[0], n: sz[1], k: sz[2],
					padC: 3, alpha: alpha, beta: 0, nanC: true}
				runCase32(t, impls, tc, rng)
			}
		}
	}
}

// TestSgemmAlphaZeroSkipsAB checks that A and B are not read when alpha or
// k is zero: NaN in them must not reach C.
func TestSgemmAlphaZeroSkipsAB(t *testing.T) {
	for _, im := range impls32() {
		a := []float32{float32(math.NaN()), float32(math.NaN()), float32(math.NaN()), float32(math.NaN())}
		c := []float32{1, 2, 3, 4}
		im.run(false, false, 2, 2, 2, 0, a, 2, a, 2, 3, c, 2)
		if c[0] != 3 || c[3] != 12 {
			t.Errorf("%s: alpha=0: C = %v, want 3*C", im.name, c)
		}
		im.run(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
		if c[0] != 1.5 || c[3] != 6 {
			t.Errorf("%s: k=0: C = %v, want 0.5*C", im.name, c)
		}
	}
}

func TestSgemmLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	sizes := [][3]int{
		{300, 200, 500}, // several mc and kc blocks
		{13, 3100, 70},  // several nc panels
		{151, 67, 1000}, // uneven k blocks
		{1000, 9, 9},    // small k and n
		{9, 1000, 1},    // k = 1
		{290, 64, 12544 / 8},
	}
	if testing.Short() {
		sizes = sizes[:2]
	}
	impls := impls32()
	for _, tr := range transCases {
		for _, sz := range sizes {
			tc := gemmCase{transA: tr[0], transB: tr[1], m: sz[0], n: sz[1], k: sz[2],
				padA: 1, padC: 2, alpha: 0.5, beta: 1.5}
			runCase32(t, impls, tc, rng)
		}
	}
}

func TestDgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	type impl64 struct {
		name string
		run  func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int,
			b []float64, ldb int, beta float64, c []float64, ldc int)
	}
	impls := []impl64{{"Dgemm", Dgemm}, {"native/threads=2", func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int,
		b []float64, ldb int, beta float64, c []float64, ldc int) {
		gemm(&genericKernel64, 2, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}}}
	for _, im := range impls {
		for _, tr := range transCases {
			for _, sz := range [][3]int{{1, 1, 1}, {5, 7, 3}, {17, 37, 29}, {130, 70, 300}} {
				for _, ab := range [][2]float64{{1, 0}, {-1.5, 0.25}} {
					tc := gemmCase{transA: tr[0], transB: tr[1], m: sz[0], n: sz[1], k: sz[2],
						padA: 2, padB: 1, padC: 3, alpha: ab[0], beta: ab[1], nanC: ab[1] == 0}
					o := makeOperands(tc, rng)
					want, bound := reference(tc, o)
					c := append([]float64(nil), o.c...)
					im.run(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, c, o.ldc)
					// float64 rounding is 2^29 times finer than float32's.
					check(t, im.name, tc, o, c, want, bound, 0x1p-29)
				}
			}
		}
	}
}

// bitsEqual32 reports the first index where x and y differ bitwise.
func bitsEqual32(x, y []float32) (int, bool) {
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return i, false
		}
	}
	return -1, true
}

// onEachISA runs test as a subtest on each instruction set the machine has, that set chosen.
func onEachISA(t *testing.T, test func(*testing.T)) {
	for _, isa := range compute.Each() {
		t.Run(isa.String(), func(t *testing.T) {
			prev, err := compute.SetISA(isa)
			if err != nil {
				t.Fatal(err)
			}
			defer compute.SetISA(prev)
			test(t)
		})
	}
}

var determinismSizes = [][3]int{
	{257, 131, 301}, {1001, 37, 129}, {31, 1000, 77}, {97, 83, 800}, {7, 300, 5}, {600, 3, 400},
}

// TestDeterminismThreads compares Sgemm with one and two goroutines bit for
// bit, on each instruction set.
func TestDeterminismThreads(t *testing.T) {
	onEachISA(t, determinismThreads)
}

func determinismThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	defer compute.SetThreads(compute.SetThreads(1))
	for _, tr := range transCases {
		for _, sz := range determinismSizes {
			tc := gemmCase{transA: tr[0], transB: tr[1], m: sz[0], n: sz[1], k: sz[2], padB: 3, alpha: 0.7, beta: 0.3}
			o := makeOperands(tc, rng)
			a, b := to32(o.a), to32(o.b)
			var out [][]float32
			for _, th := range []int{1, 2} {
				compute.SetThreads(th)
				c := to32(o.c)
				Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, float32(tc.alpha), a, o.lda, b, o.ldb, float32(tc.beta), c, o.ldc)
				out = append(out, c)
			}
			if i, ok := bitsEqual32(out[0], out[1]); !ok {
				t.Fatalf("%v: threads 1 and 2 differ at %d: %g vs %g", tc, i, out[0][i], out[1][i])
			}
		}
	}
}

// TestDeterminismPartitions runs the native driver with every split of C
// into up to 3 x 3 parts (serially, so any core count tests them) and
// requires the same bits as the unsplit computation.
func TestDeterminismPartitions(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, isa := range compute.Each() {
		kern := kernelFor(isa)
		for _, tr := range transCases {
			for _, sz := range determinismSizes {
				tc := gemmCase{transA: tr[0], transB: tr[1], m: sz[0], n: sz[1], k: sz[2], alpha: 1.3, beta: -0.6}
				o := makeOperands(tc, rng)
				a, b := to32(o.a), to32(o.b)
				var first []float32
				for pm := 1; pm <= 3; pm++ {
					for pn := 1; pn <= 3; pn++ {
						c := to32(o.c)
						j := newJob(kern, tc.transA, tc.transB, tc.m, tc.n, tc.k, float32(tc.alpha), a, o.lda, b, o.ldb, float32(tc.beta), c, o.ldc)
						j.pm, j.pn = pm, pn
						for p := 0; p < pm*pn; p++ {
							j.runPart(p)
						}
						if first == nil {
							first = c
							want, bound := reference(tc, o)
							check(t, kern.name, tc, o, to64(c), want, bound, 1)
						} else if i, ok := bitsEqual32(first, c); !ok {
							t.Fatalf("%s %v: split %dx%d differs at %d", kern.name, tc, pm, pn, i)
						}
					}
				}
			}
		}
	}
}

func TestPartition(t *testing.T) {
	kern := &avx2Like
	for _, tc := range []struct {
		m, n, k, threads, pm, pn int
	}{
		{12544, 64, 288, 2, 2, 1},
		{32, 1024, 256, 2, 1, 2},
		{64, 128, 3136, 2, 1, 2},
		{4, 4, 4, 2, 1, 1}, // too small to split
		{1000, 16, 100, 1, 1, 1},
		{6, 16, 100000, 2, 1, 1}, // a single tile
	} {
		pm, pn := partition(tc.m, tc.n, tc.k, kern, tc.threads)
		if pm != tc.pm || pn != tc.pn {
			t.Errorf("partition(%d, %d, %d, threads %d) = %dx%d, want %dx%d", tc.m, tc.n, tc.k, tc.threads, pm, pn, tc.pm, tc.pn)
		}
	}
}

// avx2Like has the tile and blocking of the AVX2 kernel on every platform.
var avx2Like = kernel[float32]{name: "6x16", mr: 6, nr: 16, mc: 144, kc: 384, nc: 3072}

func TestArgumentPanics(t *testing.T) {
	a := make([]float32, 12)
	for _, tc := range []struct {
		name           string
		transA, transB bool
		m, n, k        int
		lenA, lda      int
		lenB, ldb      int
		lenC, ldc      int
		msg            string
	}{
		{"negative", false, false, -1, 2, 2, 12, 2, 12, 2, 12, 2, "negative size"},
		{"lda", false, false, 2, 2, 3, 12, 2, 12, 2, 12, 2, "lda=2"},
		{"ldaTrans", true, false, 3, 2, 2, 12, 2, 12, 2, 12, 2, "lda=2"},
		{"ldbTrans", false, true, 2, 2, 3, 12, 3, 12, 2, 12, 2, "ldb=2"},
		{"ldc", false, false, 2, 3, 2, 12, 2, 12, 3, 12, 2, "ldc=2"},
		{"shortA", false, false, 3, 2, 4, 11, 4, 12, 2, 12, 2, "len(a)=11"},
		{"shortB", false, false, 2, 3, 2, 12, 2, 5, 3, 12, 3, "len(b)=5"},
		{"shortC", false, false, 2, 3, 2, 12, 2, 12, 3, 5, 3, "len(c)=5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if s := fmt.Sprint(r); !strings.Contains(s, tc.msg) || !strings.HasPrefix(s, "gemm: Sgemm: ") {
					t.Fatalf("panic %q, want it to mention %q", s, tc.msg)
				}
			}()
			Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, a[:tc.lenA], tc.lda, a[:tc.lenB], tc.ldb, 0, a[:tc.lenC], tc.ldc)
		})
	}
	// Empty products with valid leading dimensions are accepted.
	Sgemm(false, false, 0, 3, 2, 1, nil, 2, nil, 3, 0, nil, 3)
	Sgemm(false, false, 2, 0, 2, 1, nil, 2, nil, 1, 0, nil, 1)
}

// TestBuffersReused checks that a steady stream of calls takes its packing buffers from the
// scratch lists: what a call allocates is the small bookkeeping of its goroutines, not
// buffers of the operands' size (200 x 300 floats here).
func TestBuffersReused(t *testing.T) {
	if Impl() == "openblas" {
		t.Skip("cgo calls are outside this check")
	}
	for _, threads := range []int{1, 2} {
		prev := compute.SetThreads(threads)
		m, n, k := 200, 96, 300
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n) // warm the buffers
		const calls = 50
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range calls {
			Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
		}
		runtime.ReadMemStats(&after)
		compute.SetThreads(prev)
		if perCall := (after.TotalAlloc - before.TotalAlloc) / calls; perCall > 1024 {
			t.Errorf("threads=%d: %d bytes allocated per call, want the buffers reused", threads, perCall)
		}
	}
}

// TestImpl checks that Impl names the path that each instruction set selects.
func TestImpl(t *testing.T) {
	defer compute.SetISA(compute.Current())
	for _, isa := range compute.Each() {
		if _, err := compute.SetISA(isa); err != nil {
			t.Fatal(err)
		}
		want := kernelFor(isa).name
		if openblasBuild {
			want = "openblas"
		}
		if Impl() != want {
			t.Errorf("%v: Impl() = %q, want %q", isa, Impl(), want)
		}
		switch Impl() {
		case "avx512", "avx2-fma", "generic", "openblas":
		default:
			t.Errorf("%v: Impl() = %q", isa, Impl())
		}
		t.Logf("%v: Impl() = %q, compute.Threads() = %d", isa, Impl(), compute.Threads())
	}
}
