package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/unroll-ml/unroll/internal/compute"
)

// vecValues returns n float32 values, random in [-2, 2) but for every fifth, which is one of
// the values a loop may treat apart: zeros of either sign, subnormals, infinities, NaN of
// either sign, and the largest and smallest normal numbers.
func vecValues(r *rand.Rand, n int) []float32 {
	special := []float32{0, float32(math.Copysign(0, -1)), math.Float32frombits(1),
		math.Float32frombits(0x80000001), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.Float32frombits(0xffc00001), math.MaxFloat32, -math.MaxFloat32,
		math.SmallestNonzeroFloat32 * (1 << 23), -1e-38}
	v := make([]float32, n)
	for i := range v {
		if i%5 == 4 {
			v[i] = special[r.IntN(len(special))]
		} else {
			v[i] = 4*r.Float32() - 2
		}
	}
	return v
}

// The elementwise loops give the bits of their Go versions on every instruction set the
// machine has, for every length up to a few vectors and a long one, at any offset from a
// vector boundary, and with the output over an input (as add32 is used for dst += a). The one
// exception allowed is which NaN a NaN is: when both operands of an addition are NaN the
// processor returns the first, and which comes first in the Go loop's machine code is the
// compiler's choice.
func TestVecKernelsMatchGo(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	type vecFunc func(dst, a, b, c, d []float32) // b's value past the end is a scalar
	cases := []struct {
		name     string
		vec, ref vecFunc
	}{
		{"add", func(y, a, b, _, _ []float32) { add32(y, a, b) }, func(y, a, b, _, _ []float32) { add32Go(y, a, b) }},
		{"mul", func(y, a, b, _, _ []float32) { mul32(y, a, b) }, func(y, a, b, _, _ []float32) { mul32Go(y, a, b) }},
		{"reluGrad", func(y, a, b, _, _ []float32) { reluGrad32(a, b, y) }, func(y, a, b, _, _ []float32) { reluGrad32Go(a, b, y) }},
		{"relu", func(y, a, _, _, _ []float32) { relu32(a, y) }, func(y, a, _, _, _ []float32) { relu32Go(a, y) }},
		{"div", func(y, a, b, _, _ []float32) { copy(y, a); div32(y, b[len(a)]) }, func(y, a, b, _, _ []float32) { copy(y, a); div32Go(y, b[len(a)]) }},
		{"scale", func(y, a, b, _, _ []float32) { scale32(y, a, float64(b[len(a)])) }, func(y, a, b, _, _ []float32) { scale32Go(y, a, float64(b[len(a)])) }},
		{"biasReLU", func(y, a, b, _, _ []float32) { biasReLU32(a, y, b[len(a)]) }, func(y, a, b, _, _ []float32) { biasReLU32Go(a, y, b[len(a)]) }},
		{"mulAdd", func(y, a, b, c, d []float32) { mulAdd32(y, a, b, c, d) }, mulAdd32Go},
		{"addMul", func(y, a, b, c, _ []float32) { addMul32(y, a, b, c) }, func(y, a, b, c, _ []float32) { addMul32Go(y, a, b, c) }},
		{"lerp", func(y, a, b, c, _ []float32) { lerp32(y, a, b, c) }, func(y, a, b, c, _ []float32) { lerp32Go(y, a, b, c) }},
	}
	lengths := []int{1000}
	for n := 0; n <= 140; n++ {
		lengths = append(lengths, n)
	}
	for _, isa := range compute.Each() {
		prev, err := compute.SetISA(isa)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			for _, n := range lengths {
				off := r.IntN(16)
				a, b := vecValues(r, off+n)[off:], vecValues(r, off+n+1)[off:]
				e, f := vecValues(r, n), vecValues(r, n)
				got, want := make([]float32, n+1), make([]float32, n+1)
				got[n], want[n] = 7, 7 // nothing is written past the end
				c.vec(got[:n], a, b, e, f)
				c.ref(want[:n], a, b, e, f)
				vecSame(t, isa, c.name, n, got, want)
				if c.name != "div" { // in place: dst is a
					inPlace := append([]float32(nil), a...)
					c.vec(inPlace, inPlace, b, e, f)
					vecSame(t, isa, c.name+" in place", n, inPlace, want[:n])
				}
			}
		}
		compute.SetISA(prev)
	}
}

func vecSame(t *testing.T, isa compute.ISA, name string, n int, got, want []float32) {
	t.Helper()
	for i := range want {
		g, w := got[i], want[i]
		if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
			t.Fatalf("%v, %s of %d values: value %d is %v, Go gives %v", isa, name, n, i, got[i], want[i])
		}
	}
}

// The column sums of the cells' bias gradients (cellColSums, in float64, vector loops on
// whole blocks of 64 columns) give the same bits on every instruction set as in Go, for
// blocks whole and partial and any number of rows.
func TestColSumsMatchGo(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, cols := range []int{1, 64, 100, 128, 130} {
		for _, rows := range []int{1, 3, 4, 5, 33, 200} {
			m := vecValues(r, rows*cols)
			for i := range m {
				if m[i] != m[i] || math.IsInf(float64(m[i]), 0) {
					m[i] = 1e30 // large but finite: the sums stay comparable
				}
			}
			var ref []float32
			for _, isa := range compute.Each() {
				prev, err := compute.SetISA(isa)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]float32, cols)
				cellColSums(got, m, rows, cols)
				compute.SetISA(prev)
				if ref == nil {
					ref = got
					continue
				}
				vecSame(t, isa, "column sums", rows*cols, got, ref)
			}
		}
	}
}

// BenchmarkVecRows times the elementwise loops that have an AVX-512 version at the sizes the
// cells and the cross-entropy give them: rows of 256 values (one unit row of a step of
// workload W2; 32 rows a call) and the 2,048 rows of 96 classes of W2's loss, on one thread.
func BenchmarkVecRows(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	const rows, n = 32, 256
	a, x, y, z, dst := vecValues(r, rows*n), vecValues(r, rows*n), vecValues(r, rows*n), vecValues(r, rows*n), make([]float32, rows*n)
	each := func(name string, f func(lo, hi int)) {
		b.Run(name, func(b *testing.B) {
			eachISA(b, func(b *testing.B) {
				for b.Loop() {
					for i := 0; i < rows; i++ {
						f(i*n, (i+1)*n)
					}
				}
			})
		})
	}
	each("add", func(lo, hi int) { add32(dst[lo:hi], a[lo:hi], x[lo:hi]) })
	each("mulAdd", func(lo, hi int) { mulAdd32(dst[lo:hi], a[lo:hi], x[lo:hi], y[lo:hi], z[lo:hi]) })
	each("addMul", func(lo, hi int) { addMul32(dst[lo:hi], a[lo:hi], x[lo:hi], y[lo:hi]) })
	each("lerp", func(lo, hi int) { lerp32(dst[lo:hi], a[lo:hi], x[lo:hi], y[lo:hi]) })
	p, out := vecValues(r, 2048*96), make([]float32, 2048*96)
	b.Run("scale", func(b *testing.B) {
		eachISA(b, func(b *testing.B) {
			for b.Loop() {
				for i := 0; i < 2048; i++ {
					scale32(out[i*96:(i+1)*96], p[i*96:(i+1)*96], 0.5)
				}
			}
		})
	})
	b.Run("div", func(b *testing.B) {
		eachISA(b, func(b *testing.B) {
			for b.Loop() {
				for i := 0; i < 2048; i++ {
					div32(out[i*96:(i+1)*96], 1.5)
				}
			}
		})
	})
}
