package nodes_test

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
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/nodes/gemm"
)

// convBenches are the standard workloads' convolutions (see WORKLOADS.md): W4 is one layer;
// W1 has two, the second of the same shape as W4.
var convBenches = []struct {
	name             string
	n, c, h, w, o, k int
	pad              int
}{
	{name: "W4", n: 64, c: 32, h: 14, w: 14, o: 64, k: 3, pad: 1},
	{name: "W1conv1", n: 64, c: 1, h: 28, w: 28, o: 32, k: 3, pad: 1},
	{name: "W1conv2", n: 64, c: 32, h: 14, w: 14, o: 64, k: 3, pad: 1},
}

// randDense32 is a float32 tensor of uniform values in [-1, 1).
func randDense32(r *rand.Rand, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	t := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]float32, n)))
	fillRand32(r, t)
	return t
}

// fillRand32 draws every value of a float32 tensor anew, uniform in [-1, 1).
func fillRand32(r *rand.Rand, t *tensor.Dense) {
	d := t.Data().([]float32)
	for i := range d {
		d[i] = float32(2*r.Float64() - 1)
	}
}

// BenchmarkConvGraph times a training-style run of a graph holding one Conv2D layer: forward,
// the loss Σ y ⊙ R, and the gradients with respect to the input, weight and bias, through
// graph.Program (float32), in ms per run.
func BenchmarkConvGraph(b *testing.B) {
	for _, c := range convBenches {
		b.Run(c.name, func(b *testing.B) {
			ps := graph.NewParams(graph.Seed(1))
			conv, err := nodes.NewConv2D(ps, "conv", c.c, c.o, c.k, nodes.Padding(c.pad))
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
// graph.Program in float32, each run on a new input and output gradient. Each run's outputs
// are read and given back (Program.Recycle), as PyTorch's caching allocator reuses the memory
// of the tensors a step dropped. It reports the median time of a run in ms after 3 warm-up
// runs, as bench/torch_reference.py does.
func BenchmarkW4(b *testing.B) {
	ps := graph.NewParams(graph.Seed(1))
	conv, err := nodes.NewConv2D(ps, "conv", 32, 64, 3, nodes.Padding(1), nodes.NoBias())
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
	next := func() { // a new input and output gradient for every run, as a training step has
		fillRand32(r, feeds["x"])
		fillRand32(r, feeds["dy"])
	}
	run := func() {
		outs, err := prog.Run(feeds)
		if err != nil {
			b.Fatal(err)
		}
		prog.Recycle(outs)
	}
	for range 3 {
		next()
		run()
	}
	b.Logf("gemm %s, %d threads", gemm.Impl(), compute.Threads())
	b.ReportAllocs()
	b.ResetTimer()
	times := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		next()
		b.StartTimer()
		t := time.Now()
		run()
		times = append(times, time.Since(t))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e6, "ms")
}
