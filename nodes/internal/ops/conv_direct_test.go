package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/unroll-ml/unroll/internal/compute"
	"gorgonia.org/tensor"
)

// directCase is one convolution shape the direct path is checked on.
type directCase struct {
	n, c, h, w, o int
	win           Window
}

func sameWin(k, pad, dil int) Window {
	return Window{KH: k, KW: k, SH: 1, SW: 1, PT: pad, PB: pad, PL: pad, PR: pad, DH: dil, DW: dil}
}

// directCases cover the families of micro-kernels (one or two blocks of output channels, rows
// of 1 to 28 pixels and longer ones cut into pieces), channels below, at and above 16 and not a
// multiple of it, uneven and negative-equivalent padding (dx of a convolution padded by more
// than the kernel), dilation, batch 1, 1-D, strides (which take im2col), and batches large
// enough for an item to hold several groups of output channels.
var directCases = []directCase{
	{n: 2, c: 3, h: 6, w: 7, o: 4, win: sameWin(3, 1, 1)},
	{n: 1, c: 1, h: 28, w: 28, o: 32, win: sameWin(3, 1, 1)},
	{n: 3, c: 32, h: 14, w: 14, o: 64, win: sameWin(3, 1, 1)},
	{n: 2, c: 20, h: 9, w: 31, o: 40, win: sameWin(3, 1, 1)},
	{n: 2, c: 17, h: 5, w: 45, o: 17, win: sameWin(5, 2, 1)},
	{n: 1, c: 16, h: 8, w: 8, o: 48, win: sameWin(3, 0, 1)},
	{n: 2, c: 5, h: 9, w: 10, o: 33, win: sameWin(3, 2, 2)},
	{n: 2, c: 4, h: 7, w: 6, o: 8, win: Window{KH: 2, KW: 4, SH: 1, SW: 1, PT: 0, PB: 1, PL: 3, PR: 0, DH: 1, DW: 1}},
	{n: 2, c: 4, h: 7, w: 6, o: 8, win: Window{KH: 3, KW: 3, SH: 1, SW: 1, PT: 4, PB: 0, PL: 0, PR: 5, DH: 1, DW: 1}},
	{n: 2, c: 6, h: 1, w: 30, o: 18, win: Window{KH: 1, KW: 5, SH: 1, SW: 1, PL: 2, PR: 2, DH: 1, DW: 1}},
	{n: 2, c: 3, h: 9, w: 9, o: 5, win: Window{KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PB: 1, PL: 1, PR: 1, DH: 1, DW: 1}},
	{n: 8, c: 5, h: 6, w: 9, o: 40, win: sameWin(3, 1, 1)}, // several groups of output channels per item, the last one short
	{n: 9, c: 16, h: 5, w: 5, o: 70, win: sameWin(3, 1, 1)},
	{n: 2, c: 45, h: 7, w: 9, o: 20, win: sameWin(3, 1, 1)}, // input channels in two passes (directChunk), the second short
}

func (c directCase) dims(t *testing.T) convDims {
	d := convDims{n: c.n, c: c.c, h: c.h, w: c.w, o: c.o}
	var err error
	if d.ho, d.wo, err = c.win.OutSize(c.h, c.w, false); err != nil {
		t.Fatal(err)
	}
	return d
}

// runConvOps runs the forward (with bias and ReLU when relu is set) and the two gradient ops on
// float32 data and returns y, dx and dw.
func runConvOps(t *testing.T, c directCase, relu bool, x, w, b, dy *tensor.Dense) [3][]float32 {
	t.Helper()
	y, err := convOp{win: c.win, rank: 4, bias: true, relu: relu}.Do(x, w, b)
	if err != nil {
		t.Fatal(err)
	}
	dx, err := convInputGradOp{win: c.win, rank: 4, h: c.h, w: c.w}.Do(w, dy)
	if err != nil {
		t.Fatal(err)
	}
	dw, err := convWeightGradOp{win: c.win, rank: 4}.Do(x, dy)
	if err != nil {
		t.Fatal(err)
	}
	return [3][]float32{y.(*tensor.Dense).Float32s(), dx.(*tensor.Dense).Float32s(), dw.(*tensor.Dense).Float32s()}
}

// TestDirectConvMatchesDefinition runs the float32 ops, on every instruction set the machine
// has (AVX-512 takes the direct path, the others im2col), against the definition computed in
// float64 (directConv). The float32 results differ from the exact sums by rounding only: the
// bound is a few units of float32 rounding times the sum of the magnitudes of the products.
func TestDirectConvMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for ci, c := range directCases {
		d := c.dims(t)
		x64 := randSlice(r, d.n*d.c*d.h*d.w)
		w64 := randSlice(r, d.o*d.c*c.win.KH*c.win.KW)
		b64 := randSlice(r, d.o)
		dy64 := randSlice(r, d.n*d.o*d.ho*d.wo)
		abs := func(v []float64) []float64 {
			out := make([]float64, len(v))
			for i, e := range v {
				out[i] = math.Abs(e)
			}
			return out
		}
		wantY, wantDx, wantDw := directConv(c.win, d, x64, w64, dy64)
		magY, magDx, magDw := directConv(c.win, d, abs(x64), abs(w64), abs(dy64))
		for i := range wantY {
			o := i / (d.ho * d.wo) % d.o
			wantY[i] += b64[o]
			magY[i] += math.Abs(b64[o])
		}
		x := dense32(x64, d.inShape(4)...)
		w := dense32(w64, d.kernelShape(c.win, 4)...)
		b := dense32(b64, d.o)
		dy := dense32(dy64, d.outShape(4)...)
		for _, isa := range compute.Each() {
			prev, err := compute.SetISA(isa)
			if err != nil {
				t.Fatal(err)
			}
			for _, relu := range []bool{false, true} {
				got := runConvOps(t, c, relu, x, w, b, dy)
				for k, want := range [3][]float64{wantY, wantDx, wantDw} {
					mag := [3][]float64{magY, magDx, magDw}[k]
					for i := range want {
						e := want[i]
						if k == 0 && relu {
							e = max(e, 0)
						}
						if diff := math.Abs(float64(got[k][i]) - e); diff > 1e-6*mag[i]*4+1e-30 {
							t.Fatalf("case %d, %v, relu %v: %s[%d] = %v, want %v (bound %.3g)", ci, isa, relu, [3]string{"y", "dx", "dw"}[k], i, got[k][i], e, 4e-6*mag[i])
						}
					}
				}
			}
			compute.SetISA(prev)
		}
	}
}

func dense32(v []float64, shape ...int) *tensor.Dense {
	f := make([]float32, len(v))
	for i, e := range v {
		f[i] = float32(e)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
}

// TestDirectConvIsChosen checks that the float32 stride-1 convolution takes the direct path
// where the machine has AVX-512 (and the build is not purego), and im2col otherwise.
func TestDirectConvIsChosen(t *testing.T) {
	d := convDims{n: 1, c: 32, h: 14, w: 14, o: 64, ho: 14, wo: 14}
	want := compute.Supported() >= compute.AVX512
	if got := directConvOK(sameWin(3, 1, 1), d); got != want {
		t.Errorf("direct path chosen %v on %v, want %v", got, compute.Supported(), want)
	}
	strided := Window{KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 1}
	if directConvOK(strided, d) {
		t.Error("direct path chosen for stride 2")
	}
	if compute.Supported() >= compute.AVX512 {
		prev, _ := compute.SetISA(compute.AVX2)
		defer compute.SetISA(prev)
		if directConvOK(sameWin(3, 1, 1), d) {
			t.Error("direct path chosen with the AVX2 path forced")
		}
	}
}

// TestDirectConvDeterministic runs the ops (and the convolution with fused pooling) on 1 and 2
// threads and wants the same bits.
func TestDirectConvDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, c := range []directCase{directCases[2], directCases[1], directCases[3], directCases[11]} {
		d := c.dims(t)
		x := dense32(randSlice(r, d.n*d.c*d.h*d.w), d.inShape(4)...)
		w := dense32(randSlice(r, d.o*d.c*c.win.KH*c.win.KW), d.kernelShape(c.win, 4)...)
		b := dense32(randSlice(r, d.o), d.o)
		dy := dense32(randSlice(r, d.n*d.o*d.ho*d.wo), d.outShape(4)...)
		pooled := func() []float32 {
			y, err := convOp{win: c.win, rank: 4, bias: true, relu: true, pool: true}.Do(x, w, b)
			if err != nil {
				t.Fatal(err)
			}
			return y.(*tensor.Dense).Float32s()
		}
		prev := compute.SetThreads(1)
		one := runConvOps(t, c, true, x, w, b, dy)
		onePool := pooled()
		compute.SetThreads(2)
		two := runConvOps(t, c, true, x, w, b, dy)
		twoPool := pooled()
		compute.SetThreads(prev)
		for k := range one {
			if !slices.Equal(one[k], two[k]) {
				t.Errorf("%v: %s differs between 1 and 2 threads", fmt.Sprint(c), [3]string{"y", "dx", "dw"}[k])
			}
		}
		if !slices.Equal(onePool, twoPool) {
			t.Errorf("%v: the fused pooling differs between 1 and 2 threads", fmt.Sprint(c))
		}
	}
}

// TestDirectConvChunks computes convolutions whose input channels take several passes
// (directChunk) in one pass and in passes of 1, 7, 16 and 32 channels, with bias and ReLU, and
// wants the same bits: a pass continues the sums of the one before, in the same order.
func TestDirectConvChunks(t *testing.T) {
	if !directConvAvailable() {
		t.Skip("no direct convolution on this machine or build")
	}
	r := rand.New(rand.NewPCG(15, 16))
	for _, c := range []directCase{directCases[2], directCases[13], {n: 2, c: 70, h: 6, w: 5, o: 9, win: sameWin(3, 1, 1)}} {
		d := c.dims(t)
		x := dense32(randSlice(r, d.n*d.c*d.h*d.w), d.inShape(4)...).Float32s()
		w := dense32(randSlice(r, d.o*d.c*c.win.KH*c.win.KW), d.kernelShape(c.win, 4)...).Float32s()
		b := dense32(randSlice(r, d.o), d.o).Float32s()
		run := func(chunk int) []float32 {
			y := make([]float32, d.n*d.o*d.ho*d.wo)
			convDirectChunked(c.win, d, x, w, b, true, false, y, chunk)
			return y
		}
		whole := run(d.c)
		for _, chunk := range []int{1, 7, 16, 32} {
			if got := run(chunk); !slices.Equal(got, whole) {
				t.Errorf("%v: passes of %d input channels differ from one pass", fmt.Sprint(c), chunk)
			}
		}
	}
}
