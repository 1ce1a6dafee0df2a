package nodes

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/nodes/gemm"
)

// convBench is one convolution workload: input (n, c, h, w), o kernels of k x k, padding pad,
// stride 1.
type convBench struct {
	name             string
	n, c, h, w, o, k int
	pad              int
}

// The standard workloads' convolutions (see WORKLOADS.md): W4 is one layer; W1 has two, the
// second of the same shape as W4.
var convBenches = []convBench{
	{name: "W4", n: 64, c: 32, h: 14, w: 14, o: 64, k: 3, pad: 1},
	{name: "W1conv1", n: 64, c: 1, h: 28, w: 28, o: 32, k: 3, pad: 1},
	{name: "W1conv2", n: 64, c: 32, h: 14, w: 14, o: 64, k: 3, pad: 1},
}

func randDense32(r *rand.Rand, shape ...int) *tensor.Dense {
	t := newDense[float32](shape...)
	for i, d := 0, data[float32](t); i < len(d); i++ {
		d[i] = float32(2*r.Float64() - 1)
	}
	return t
}

// BenchmarkConvOp times unroll's convolution op and its backward ops called directly (float32):
// forward, the input and weight gradients, and all of forward+backward (with the bias
// gradient), in ms per op.
func BenchmarkConvOp(b *testing.B) {
	for _, c := range convBenches {
		win := window{kh: c.k, kw: c.k, sh: 1, sw: 1, pt: c.pad, pb: c.pad, pl: c.pad, pr: c.pad, dh: 1, dw: 1}
		fwd := convOp{win: win, rank: 4, bias: true}
		dxOp := convInputGradOp{win: win, rank: 4, h: c.h, w: c.w}
		dwOp := convWeightGradOp{win: win, rank: 4}
		dbOp := channelSumOp{rank: 4}
		r := rand.New(rand.NewPCG(1, 2))
		x := randDense32(r, c.n, c.c, c.h, c.w)
		w := randDense32(r, c.o, c.c, c.k, c.k)
		bias := randDense32(r, c.o)
		ho, wo, err := win.outSize(c.h, c.w, false)
		if err != nil {
			b.Fatal(err)
		}
		dy := randDense32(r, c.n, c.o, ho, wo)
		steps := map[string]func() error{
			"forward": func() error { _, err := fwd.Do(x, w, bias); return err },
			"dx":      func() error { _, err := dxOp.Do(w, dy); return err },
			"dw":      func() error { _, err := dwOp.Do(x, dy); return err },
			"forward+backward": func() error {
				if _, err := fwd.Do(x, w, bias); err != nil {
					return err
				}
				if _, err := dxOp.Do(w, dy); err != nil {
					return err
				}
				if _, err := dwOp.Do(x, dy); err != nil {
					return err
				}
				_, err := dbOp.Do(dy)
				return err
			},
		}
		for _, step := range []string{"forward", "dx", "dw", "forward+backward"} {
			b.Run(c.name+"/"+step, func(b *testing.B) {
				f := steps[step]
				for b.Loop() {
					if err := f(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/op")
			})
		}
	}
}

// BenchmarkConvGraph times a training-style run of a graph holding one Conv2D layer: forward,
// the loss Σ y ⊙ R, and the gradients with respect to the input, weight and bias, through
// graph.Program (float32), in ms per run.
func BenchmarkConvGraph(b *testing.B) {
	for _, c := range convBenches {
		b.Run(c.name, func(b *testing.B) {
			ps := graph.NewParams(graph.Seed(1))
			conv, err := NewConv2D(ps, "conv", c.c, c.o, c.k, Padding(c.pad))
			if err != nil {
				b.Fatal(err)
			}
			bld := graph.NewBuilder(ps, graph.Train)
			x, _ := bld.Input("x", c.n, c.c, c.h, c.w)
			y, err := conv.Forward(bld, x)
			if err != nil {
				b.Fatal(err)
			}
			rn, _ := bld.Input("r", y.Shape()...)
			prod, err := gorgonia.HadamardProd(y, rn)
			if err != nil {
				b.Fatal(err)
			}
			loss, err := gorgonia.Sum(prod)
			if err != nil {
				b.Fatal(err)
			}
			w, _ := bld.Param("conv.weight")
			bias, _ := bld.Param("conv.bias")
			gs, err := gorgonia.Grad(loss, x, w, bias)
			if err != nil {
				b.Fatal(err)
			}
			outs := map[string]*gorgonia.Node{"loss": loss}
			for i, g := range gs {
				outs[fmt.Sprint("grad", i)] = g
			}
			prog, err := graph.Compile(bld, outs)
			if err != nil {
				b.Fatal(err)
			}
			defer prog.Close()
			r := rand.New(rand.NewPCG(3, 4))
			feeds := graph.Feeds{"x": randDense32(r, c.n, c.c, c.h, c.w), "r": randDense32(r, y.Shape()...)}
			for b.Loop() {
				if _, err := prog.Run(feeds); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/op")
		})
	}
}

// BenchmarkW4 is workload W4 (bench/WORKLOADS.md): one convolution, input 64x32x14x14, kernel
// 64x32x3x3, padding 1, stride 1, no bias, forward and the gradients with respect to the input
// and the kernel for a given output gradient (PyTorch's autograd.grad(y, (x, w), dy)), through
// graph.Program in float32. It reports the median time of a run in ms after 3 warm-up runs,
// as bench/torch_reference.py does.
func BenchmarkW4(b *testing.B) {
	ps := graph.NewParams(graph.Seed(1))
	conv, err := NewConv2D(ps, "conv", 32, 64, 3, Padding(1), NoBias())
	if err != nil {
		b.Fatal(err)
	}
	bld := graph.NewBuilder(ps, graph.Train)
	x, _ := bld.Input("x", 64, 32, 14, 14)
	y, err := conv.Forward(bld, x)
	if err != nil {
		b.Fatal(err)
	}
	dy, _ := bld.Input("dy", y.Shape()...)
	w, _ := bld.Param("conv.weight")
	gs, err := gorgonia.Backpropagate(gorgonia.Nodes{y}, gorgonia.Nodes{dy}, gorgonia.Nodes{x, w})
	if err != nil {
		b.Fatal(err)
	}
	prog, err := graph.Compile(bld, map[string]*gorgonia.Node{"y": y, "dx": gs[0], "dw": gs[1]})
	if err != nil {
		b.Fatal(err)
	}
	defer prog.Close()
	r := rand.New(rand.NewPCG(3, 4))
	feeds := graph.Feeds{"x": randDense32(r, 64, 32, 14, 14), "dy": randDense32(r, y.Shape()...)}
	for range 3 {
		if _, err := prog.Run(feeds); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("gemm %s, %d threads", gemm.Impl(), compute.Threads())
	b.ReportAllocs()
	b.ResetTimer()
	times := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		t := time.Now()
		if _, err := prog.Run(feeds); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e6, "ms")
}
