package nodes_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/nodes"
)

// convPoolNet is a convolution with fused ReLU followed by a 2x2 max pooling: in inference
// mode the two become one op.
func convPoolNet(t *testing.T, ps *graph.Params, in []int, o, k int, opts ...nodes.ConvOption) *nodes.Sequential {
	t.Helper()
	conv, err := nodes.NewConv2D(ps, "conv", in[1], o, k, append(opts, nodes.FusedReLU())...)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := nodes.NewMaxPool2D("pool", 2)
	if err != nil {
		t.Fatal(err)
	}
	return nodes.NewSequential(ps, "net", in[1:]...).Add(conv).Add(pool)
}

// TestConvPoolFusedInInference checks that inference fuses the pooling into the convolution
// (and training does not), that the fused op gives the same values as the two ops, in float32
// on every instruction set (the pooled outputs are the same bits) and in float64, and that its
// gradient, taken in inference mode, passes the finite-difference check.
func TestConvPoolFusedInInference(t *testing.T) {
	for _, c := range []struct {
		in   []int
		o, k int
		opts []nodes.ConvOption
	}{
		{in: []int{3, 1, 28, 28}, o: 32, k: 3, opts: []nodes.ConvOption{nodes.Padding(1)}},
		{in: []int{2, 20, 9, 11}, o: 18, k: 3, opts: []nodes.ConvOption{nodes.Padding(1)}},
		{in: []int{2, 3, 7, 8}, o: 5, k: 2},
		{in: []int{1, 4, 10, 38}, o: 8, k: 3, opts: []nodes.ConvOption{nodes.Padding(1)}}, // rows of 19 windows: 16 and 3
	} {
		for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
			ps := graph.NewParams(graph.Seed(3), graph.Dtype(dt))
			net := convPoolNet(t, ps, c.in, c.o, c.k, c.opts...)
			x := randTensor(rand.New(rand.NewPCG(1, 2)), dt, c.in...)
			outputs := func(mode graph.Mode) (*tensor.Dense, bool) {
				b := graph.NewBuilder(ps, mode)
				xn, err := b.Input("x", c.in...)
				if err != nil {
					t.Fatal(err)
				}
				y, err := net.Forward(b, xn)
				if err != nil {
					t.Fatal(err)
				}
				fused := strings.Contains(y.Op().String(), "maxpool2x2")
				return run(t, b, map[string]*gorgonia.Node{"y": y}, graph.Feeds{"x": x})["y"], fused
			}
			for _, isa := range compute.Each() {
				prev, err := compute.SetISA(isa)
				if err != nil {
					t.Fatal(err)
				}
				want, fusedTrain := outputs(graph.Train)
				got, fusedEval := outputs(graph.Eval)
				compute.SetISA(prev)
				if fusedTrain || !fusedEval {
					t.Fatalf("%v: fused in training %v, in inference %v; want false, true", c.in, fusedTrain, fusedEval)
				}
				if !got.Shape().Eq(want.Shape()) || !slices.Equal(graph.Float64s(got), graph.Float64s(want)) {
					t.Errorf("%v %v %v: fused output differs from convolution then pooling", c.in, dt, isa)
				}
			}
			if dt != tensor.Float64 {
				continue
			}
			build := func(b *graph.Builder) (*gorgonia.Node, error) {
				xn, err := b.Input("x", c.in...)
				if err != nil {
					return nil, err
				}
				return net.Forward(b, xn)
			}
			checkGrad(t, "fused conv+pool", ps, build, graph.Feeds{"x": x}, graph.WithRespectTo("x"), graph.CheckMode(graph.Eval))
		}
	}
}
