package nodes_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/solvers"
)

// The graph of an unrolled cell is differentiated twice: once by gorgonia.Grad alone, whose
// gradient of each weight is Gorgonia's sum of one weight gradient per step, and once by the
// trainer, which replaces that sum by the cell's joint gradient (graph.JointGradOp). Both live
// in one program; they agree, and the second differentiation of the same graph works.
func TestJointGradientIsGorgoniasSum(t *testing.T) {
	const batch, in, hidden, steps = 3, 4, 5, 4
	for _, k := range cellKinds {
		t.Run(k.name, func(t *testing.T) {
			ps := graph.NewParams(graph.Seed(11), graph.Dtype(tensor.Float64))
			cell, err := k.make(ps, "cell", in, hidden, k.opts...)
			if err != nil {
				t.Fatal(err)
			}
			b := graph.NewBuilder(ps, graph.Train)
			y, err := cellUnroll(b, cell, batch, steps)
			if err != nil {
				t.Fatal(err)
			}
			proj, err := b.Input("proj", y.Shape()...)
			if err != nil {
				t.Fatal(err)
			}
			loss, err := gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(y, proj)))
			if err != nil {
				t.Fatal(err)
			}
			var wrt []*gorgonia.Node
			names := ps.Trainable()
			for _, name := range names {
				n, err := b.Param(name)
				if err != nil {
					t.Fatal(err)
				}
				wrt = append(wrt, n)
			}
			sums, err := gorgonia.Grad(loss, wrt...) // the first differentiation
			if err != nil {
				t.Fatal(err)
			}
			outs := map[string]*gorgonia.Node{}
			for i, name := range names {
				outs[name] = sums[i]
			}
			tr, err := graph.NewTrainer(b, loss, solvers.NewSGD(0.1), graph.WithOutputs(outs)) // the second
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 4))
			feeds := cellFeeds(r, tensor.Float64, cell, batch, steps)
			feeds["proj"] = cellRand(r, tensor.Float64, 1, y.Shape()...)
			_, joint, err := tr.Gradients(feeds)
			if err != nil {
				t.Fatal(err)
			}
			out, err := tr.Program().Run(feeds)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range names {
				want, got := graph.Float64s(out[name]), graph.Float64s(joint[name])
				var norm float64
				for i := range want {
					norm = math.Max(norm, math.Abs(want[i]))
					if d := math.Abs(got[i] - want[i]); d > 1e-12*(1+math.Abs(want[i])) {
						t.Fatalf("%s[%d]: joint %v, Gorgonia's sum %v", name, i, got[i], want[i])
					}
				}
				if norm == 0 {
					t.Fatalf("%s: the gradient is zero", name)
				}
			}
		})
	}
}
