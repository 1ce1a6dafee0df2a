package ops

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/unroll-ml/unroll/internal/compute"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// directConv computes a convolution, its input gradient and its kernel gradient from their
// definitions (see Conv2D), in float64.
func directConv(win Window, d convDims, x, w, dy []float64) (y, dx, dw []float64) {
	y = make([]float64, d.n*d.o*d.ho*d.wo)
	dx = make([]float64, d.n*d.c*d.h*d.w)
	dw = make([]float64, d.o*d.c*win.KH*win.KW)
	for n := 0; n < d.n; n++ {
		for o := 0; o < d.o; o++ {
			for i := 0; i < d.ho; i++ {
				for j := 0; j < d.wo; j++ {
					at := ((n*d.o+o)*d.ho+i)*d.wo + j
					for c := 0; c < d.c; c++ {
						for p := 0; p < win.KH; p++ {
							for q := 0; q < win.KW; q++ {
								u := i*win.SH - win.PT + p*win.DH
								v := j*win.SW - win.PL + q*win.DW
								if u < 0 || u >= d.h || v < 0 || v >= d.w {
									continue
								}
								xi := ((n*d.c+c)*d.h+u)*d.w + v
								wi := ((o*d.c+c)*win.KH+p)*win.KW + q
								y[at] += w[wi] * x[xi]
								dx[xi] += w[wi] * dy[at]
								dw[wi] += x[xi] * dy[at]
							}
						}
					}
				}
			}
		}
	}
	return y, dx, dw
}

func randSlice(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*r.Float64() - 1
	}
	return v
}

func dense64(v []float64, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

// TestConvOpsMatchDefinition runs the convolution ops, on the batch in one chunk of images
// and in several, against directConv.
func TestConvOpsMatchDefinition(t *testing.T) {
	wins := []Window{
		{KH: 3, KW: 3, SH: 1, SW: 1, PT: 1, PB: 1, PL: 1, PR: 1, DH: 1, DW: 1}, // same, shifted rows
		{KH: 3, KW: 3, SH: 1, SW: 1, PT: 2, PB: 2, PL: 0, PR: 2, DH: 2, DW: 1}, // shifted, dilated rows, one-sided
		{KH: 2, KW: 4, SH: 1, SW: 1, PT: 0, PB: 1, PL: 3, PR: 0, DH: 1, DW: 1}, // shifted by up to 3
		{KH: 3, KW: 2, SH: 2, SW: 1, PT: 1, PB: 0, PL: 0, PR: 0, DH: 1, DW: 2}, // general
		{KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1},                             // pointwise
		{KH: 3, KW: 3, SH: 3, SW: 2, PT: 0, PB: 2, PL: 1, PR: 1, DH: 1, DW: 1}, // strides
	}
	r := rand.New(rand.NewPCG(5, 6))
	for wi, win := range wins {
		d := convDims{n: 5, c: 3, h: 6, w: 7, o: 4}
		var err error
		if d.ho, d.wo, err = win.OutSize(d.h, d.w, false); err != nil {
			t.Fatal(err)
		}
		x := randSlice(r, d.n*d.c*d.h*d.w)
		w := randSlice(r, d.o*d.c*win.KH*win.KW)
		dy := randSlice(r, d.n*d.o*d.ho*d.wo)
		wantY, wantDx, wantDw := directConv(win, d, x, w, dy)
		xt := dense64(x, d.inShape(4)...)
		wt := dense64(w, d.kernelShape(win, 4)...)
		dyt := dense64(dy, d.outShape(4)...)
		for _, chunk := range []int{colChunkElems, 2 * d.c * win.KH * win.KW * d.ho * d.wo} {
			y, err := convOp{win: win, rank: 4, chunk: chunk}.Do(xt, wt)
			if err != nil {
				t.Fatal(err)
			}
			dx, err := convInputGradOp{win: win, rank: 4, h: d.h, w: d.w, chunk: chunk}.Do(wt, dyt)
			if err != nil {
				t.Fatal(err)
			}
			dw, err := convWeightGradOp{win: win, rank: 4, chunk: chunk}.Do(xt, dyt)
			if err != nil {
				t.Fatal(err)
			}
			got := [3][]float64{y.(*tensor.Dense).Float64s(), dx.(*tensor.Dense).Float64s(), dw.(*tensor.Dense).Float64s()}
			for k, want := range [3][]float64{wantY, wantDx, wantDw} {
				for i := range want {
					if diff := got[k][i] - want[i]; diff > 1e-12 || diff < -1e-12 {
						t.Fatalf("Window %d, chunk %d: %s[%d] = %v, want %v", wi, chunk, [3]string{"y", "dx", "dw"}[k], i, got[k][i], want[i])
					}
				}
			}
		}
	}
}

// TestParallelLoopsAreDeterministic runs the ops with parallel loops on 1 and 2 threads, on
// float32 data, and wants the same bits.
func TestParallelLoopsAreDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	x := tensor.New(tensor.WithShape(8, 16, 28, 28), tensor.WithBacking(make([]float32, 8*16*28*28)))
	for i, v := range randSlice(r, 8*16*28*28) {
		x.Float32s()[i] = float32(v)
		if i%97 == 0 {
			x.Float32s()[i] = 0 // ties in the pooling windows
		}
	}
	pool := poolOp{kind: MaxPool, win: Window{KH: 2, KW: 2, SH: 2, SW: 2, DH: 1, DW: 1}, unary: unary{4}}
	relu := activationOp{kind: ReLU, unary: unary{4}}
	run := func() [][]float32 {
		y, err := relu.Do(x)
		if err != nil {
			t.Fatal(err)
		}
		p, err := pool.Do(y)
		if err != nil {
			t.Fatal(err)
		}
		dp, err := poolGradOp{fwd: pool}.Do(y, p)
		if err != nil {
			t.Fatal(err)
		}
		dy, err := activationGradOp{fwd: relu}.Do(x, y, dp)
		if err != nil {
			t.Fatal(err)
		}
		s, err := channelSumOp{rank: 4}.Do(dy)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]float32
		for _, v := range []gorgonia.Value{y, p, dp, dy, s} {
			out = append(out, v.(*tensor.Dense).Float32s())
		}
		return out
	}
	prev := compute.SetThreads(1)
	one := run()
	compute.SetThreads(2)
	two := run()
	compute.SetThreads(prev)
	for i := range one {
		if !slices.Equal(one[i], two[i]) {
			t.Errorf("result %d differs between 1 and 2 threads", i)
		}
	}
}

// TestMaxPoolGradFastPath compares the 2x2 max pooling gradient's branch-free path with the
// general rule on windows with ties, zeros of both signs and NaN, with and without the ReLU
// mask.
func TestMaxPoolGradFastPath(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	d := poolDims{planes: 3, h: 6, w: 7, ho: 3, wo: 3}
	vals := []float32{-1, 0, float32(negZero()), 1, 2, float32(nan())}
	x := make([]float32, d.planes*d.h*d.w)
	for i := range x {
		x[i] = vals[r.IntN(len(vals))]
	}
	dy := make([]float32, d.planes*d.ho*d.wo)
	for i := range dy {
		dy[i] = float32(i + 1)
	}
	op := poolOp{kind: MaxPool, win: Window{KH: 2, KW: 2, SH: 2, SW: 2, DH: 1, DW: 1}, unary: unary{4}}
	got := make([]float32, len(x))
	want := make([]float32, len(x))
	for i := range got {
		got[i] = 99 // stale values the op must overwrite
	}
	for _, relu := range []bool{false, true} {
		clear(want)
		poolBackward(op, relu, d, x, dy, got)
		for pl := 0; pl < d.planes; pl++ {
			s := pl * d.h * d.w
			poolGradPlane(op, relu, d, x[s:s+d.h*d.w], dy[pl*d.ho*d.wo:(pl+1)*d.ho*d.wo], want[s:s+d.h*d.w])
		}
		if !slices.Equal(got, want) {
			t.Errorf("relu %v: fast path %v, general rule %v", relu, got, want)
		}
	}
}

func negZero() float64 { return math.Copysign(0, -1) }
func nan() float64     { return math.NaN() }
