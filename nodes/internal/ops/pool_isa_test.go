package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/unroll-ml/unroll/internal/compute"
)

// The 2x2 max pooling with stride 2 gives the same output and gradient (with and without the
// fused ReLU's mask) on every instruction set the machine has as in portable Go, for rows of
// any number of windows (partial vectors included), planes with a row and a column no window
// covers, ties, zeros of both signs, infinities, and NaN in some blocks of windows and not in
// others. The outputs may differ only in which NaN a NaN is (Go's max does not say); the
// gradients, copies of dy or zeros, are compared bit for bit.
func TestMaxPool2x2MatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	op := poolOp{kind: MaxPool, win: Window{KH: 2, KW: 2, SH: 2, SW: 2, DH: 1, DW: 1}, unary: unary{4}}
	special := []float32{-1, 0, float32(negZero()), 1, 2, float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, wo := range []int{1, 2, 7, 15, 16, 17, 31, 33, 40, 100} {
		for _, extra := range []int{0, 1} {
			d := poolDims{planes: 4, ho: 3, wo: wo, h: 6 + extra, w: 2*wo + extra}
			x := make([]float32, d.planes*d.h*d.w)
			for i := range x {
				x[i] = 4*r.Float32() - 2
				if r.IntN(3) == 0 {
					x[i] = special[r.IntN(len(special))]
				}
				if pl := i / (d.h * d.w); pl >= 2 && r.IntN(60) == 0 { // NaN in planes 2 and 3
					x[i] = float32(nan())
				}
			}
			dy := make([]float32, d.planes*d.ho*d.wo)
			for i := range dy {
				dy[i] = 4*r.Float32() - 2
			}
			type result struct{ y, dx, dxReLU []float32 }
			run := func(isa compute.ISA) result {
				prev, err := compute.SetISA(isa)
				if err != nil {
					t.Fatal(err)
				}
				defer compute.SetISA(prev)
				res := result{make([]float32, len(dy)), make([]float32, len(x)), make([]float32, len(x))}
				poolForward(op, d, x, res.y)
				poolBackward(op, false, d, x, dy, res.dx)
				poolBackward(op, true, d, x, dy, res.dxReLU)
				return res
			}
			ref := run(compute.Generic)
			for _, isa := range compute.Each()[1:] {
				got := run(isa)
				for i := range ref.y {
					g, w := got.y[i], ref.y[i]
					if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
						t.Fatalf("%v, %d windows a row: output %d is %v, Go gives %v", isa, wo, i, g, w)
					}
				}
				for i := range ref.dx {
					if math.Float32bits(got.dx[i]) != math.Float32bits(ref.dx[i]) ||
						math.Float32bits(got.dxReLU[i]) != math.Float32bits(ref.dxReLU[i]) {
						t.Fatalf("%v, %d windows a row: gradient %d is %v (with ReLU %v), Go gives %v (%v)",
							isa, wo, i, got.dx[i], got.dxReLU[i], ref.dx[i], ref.dxReLU[i])
					}
				}
			}
		}
	}
}
