package ops

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
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

// flops is the number of floating-point operations of a step (2 per multiply-add; the bias
// and its gradient are left out).
func (c convBench) flops(step string) float64 {
	ho, wo := c.h+2*c.pad-c.k+1, c.w+2*c.pad-c.k+1
	one := 2 * float64(c.n*c.o*ho*wo*c.c*c.k*c.k)
	switch step {
	case "forward", "dx", "dw", "forward-im2col", "dx-im2col", "dw-im2col":
		return one
	case "forward+backward":
		return 3 * one
	}
	return 0
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
// gradient), in ms per op, with the CPU time per op (a fairer figure on a shared machine) and
// the GFLOP/s; the -im2col steps run the im2col path whatever the instruction set, for a
// comparison with the direct path that AVX-512 takes.
func BenchmarkConvOp(b *testing.B) {
	for _, c := range convBenches {
		win := Window{KH: c.k, KW: c.k, SH: 1, SW: 1, PT: c.pad, PB: c.pad, PL: c.pad, PR: c.pad, DH: 1, DW: 1}
		fwd := convOp{win: win, rank: 4, bias: true}
		dxOp := convInputGradOp{win: win, rank: 4, h: c.h, w: c.w}
		dwOp := convWeightGradOp{win: win, rank: 4}
		dbOp := channelSumOp{rank: 4}
		r := rand.New(rand.NewPCG(1, 2))
		x := randDense32(r, c.n, c.c, c.h, c.w)
		w := randDense32(r, c.o, c.c, c.k, c.k)
		bias := randDense32(r, c.o)
		ho, wo, err := win.OutSize(c.h, c.w, false)
		if err != nil {
			b.Fatal(err)
		}
		dy := randDense32(r, c.n, c.o, ho, wo)
		// Outputs allocated once, as the graph's executor does (DoInto).
		y := newDense[float32](c.n, c.o, ho, wo)
		dx := newDense[float32](c.n, c.c, c.h, c.w)
		dw := newDense[float32](c.o, c.c, c.k, c.k)
		db := newDense[float32](c.o)
		steps := map[string]func() error{
			"forward": func() error { _, err := fwd.DoInto(y, x, w, bias); return err },
			"dx":      func() error { _, err := dxOp.DoInto(dx, w, dy); return err },
			"dw":      func() error { _, err := dwOp.DoInto(dw, x, dy); return err },
			"forward+backward": func() error {
				if _, err := fwd.DoInto(y, x, w, bias); err != nil {
					return err
				}
				if _, err := dxOp.DoInto(dx, w, dy); err != nil {
					return err
				}
				if _, err := dwOp.DoInto(dw, x, dy); err != nil {
					return err
				}
				_, err := dbOp.DoInto(db, dy)
				return err
			},
		}
		// The im2col path, which the direct path replaces on AVX-512 (the same float32 ops
		// otherwise): to compare the two on each shape.
		d := convDims{n: c.n, c: c.c, h: c.h, w: c.w, o: c.o, ho: ho, wo: wo}
		steps["forward-im2col"] = func() error {
			convForward(fwd, d, []*tensor.Dense{x, w, bias}, data[float32](y))
			return nil
		}
		steps["dx-im2col"] = func() error {
			convInputGrad(win, d, data[float32](w), data[float32](dy), data[float32](dx))
			return nil
		}
		steps["dw-im2col"] = func() error {
			convWeightGrad(win, d, data[float32](x), data[float32](dy), data[float32](dw))
			return nil
		}
		for _, step := range []string{"forward", "dx", "dw", "forward+backward", "forward-im2col", "dx-im2col", "dw-im2col"} {
			b.Run(c.name+"/"+step, func(b *testing.B) {
				f := steps[step]
				cpu0 := processCPU()
				for b.Loop() {
					if err := f(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/op")
				if cpu := processCPU() - cpu0; cpu > 0 {
					b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/op")
				}
				if flops := c.flops(step); flops > 0 {
					b.ReportMetric(flops*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "GFLOP/s")
				}
			})
		}
	}
}
