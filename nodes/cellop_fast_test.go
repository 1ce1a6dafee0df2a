package nodes_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// cellOneHotFeeds are the feeds of cellUnroll with one-hot inputs: each row of x<t> holds a
// single 1, except row 1 of x0, which is all zeros (a padded position).
func cellOneHotFeeds(r *rand.Rand, dt tensor.Dtype, cell nodes.Cell, batch, steps int) graph.Feeds {
	f := cellFeeds(r, dt, cell, batch, steps)
	for t := 0; t < steps; t++ {
		v := make([]float64, batch*cell.InputSize())
		for b := 0; b < batch; b++ {
			if t == 0 && b == 1 {
				continue
			}
			v[b*cell.InputSize()+r.IntN(cell.InputSize())] = 1
		}
		f[fmt.Sprintf("x%d", t)] = graph.NewTensor(dt, []int{batch, cell.InputSize()}, v)
	}
	return f
}

// With one-hot inputs the fused cells add a column of W_ih instead of multiplying, and scatter
// the weight gradient: the gradients still match finite differences (with respect to the
// parameters, the initial state and the inputs themselves), and the primitive cells.
func TestCellOneHotInputs(t *testing.T) {
	const batch, in, hidden, steps = 3, 5, 4, 3
	for _, k := range cellKinds {
		t.Run(k.name, func(t *testing.T) {
			ps := graph.NewParams(graph.Seed(7), graph.Dtype(tensor.Float64))
			cell, err := k.make(ps, "cell", in, hidden, k.opts...)
			if err != nil {
				t.Fatal(err)
			}
			feeds := cellOneHotFeeds(rand.New(rand.NewPCG(1, 2)), tensor.Float64, cell, batch, steps)
			if _, err := graph.GradCheck(ps, func(b *graph.Builder) (*gorgonia.Node, error) {
				return cellUnroll(b, cell, batch, steps)
			}, feeds, graph.WithRespectTo(cellFeedNames(feeds)...), graph.MaxPerTensor(0)); err != nil {
				t.Fatal(err)
			}
		})
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			t.Run(k.name+"/primitive/"+dt.String(), func(t *testing.T) {
				matchFusedPrimitive(t, dt, cellLossAndGrads(t, k, dt, 7, false, cellOneHotFeeds),
					cellLossAndGrads(t, k, dt, 7, true, cellOneHotFeeds))
			})
		}
	}
}

// cellLossAndGrads returns the loss Σ proj ⊙ [h_1 .. h_T, (c_T)] of a few steps on the inputs
// feedsOf gives and its gradients with respect to every parameter, of the fused cell or of the
// primitive one.
func cellLossAndGrads(t *testing.T, k cellCase, dt tensor.Dtype, hidden int, primitive bool,
	feedsOf func(*rand.Rand, tensor.Dtype, nodes.Cell, int, int) graph.Feeds) []float64 {
	const batch, in, steps = 4, 6, 4
	ps := graph.NewParams(graph.Seed(5), graph.Dtype(dt))
	opts := k.opts
	if primitive {
		opts = append(append([]nodes.CellOption{}, opts...), nodes.PrimitiveOps())
	}
	cell, err := k.make(ps, "cell", in, hidden, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	feeds := feedsOf(r, dt, cell, batch, steps)
	b := graph.NewBuilder(ps, graph.Train)
	y, err := cellUnroll(b, cell, batch, steps)
	if err != nil {
		t.Fatal(err)
	}
	proj, _ := b.Input("proj", y.Shape()...)
	feeds["proj"] = cellRand(r, dt, 1, y.Shape()...)
	tr := projTrainer(t, b, y, proj, 0.1)
	l, grads, err := tr.Gradients(feeds)
	if err != nil {
		t.Fatal(err)
	}
	vals := []float64{l}
	for _, n := range ps.Trainable() {
		vals = append(vals, graph.Float64s(grads[n])...)
	}
	return vals
}

// matchFusedPrimitive fails unless the values of the fused and of the primitive cell agree to
// rounding (float64) or to float32's precision.
func matchFusedPrimitive(t *testing.T, dt tensor.Dtype, fused, prim []float64) {
	t.Helper()
	tol := 1e-12
	if dt == tensor.Float32 {
		tol = 2e-5
	}
	if len(fused) != len(prim) {
		t.Fatalf("fused cell gives %d values, primitive %d", len(fused), len(prim))
	}
	for i := range fused {
		if d := math.Abs(fused[i] - prim[i]); d > tol*(1+math.Abs(prim[i])) {
			t.Fatalf("value %d: fused %v, primitive %v", i, fused[i], prim[i])
		}
	}
}

// When the loss reads an early step only, the later steps of the chain are never
// differentiated; the weight gradient covers the steps that were.
func TestCellLossOnEarlyStep(t *testing.T) {
	const batch, in, hidden, steps = 2, 3, 4, 4
	for _, k := range cellKinds {
		t.Run(k.name, func(t *testing.T) {
			ps := graph.NewParams(graph.Seed(9), graph.Dtype(tensor.Float64))
			cell, err := k.make(ps, "cell", in, hidden, k.opts...)
			if err != nil {
				t.Fatal(err)
			}
			feeds := cellFeeds(rand.New(rand.NewPCG(5, 6)), tensor.Float64, cell, batch, steps)
			build := func(b *graph.Builder) (*gorgonia.Node, error) {
				h0, err := b.Input("h0", batch, hidden)
				if err != nil {
					return nil, err
				}
				s := nodes.State{H: h0}
				if cell.HasCell() {
					if s.C, err = b.Input("c0", batch, hidden); err != nil {
						return nil, err
					}
				}
				var early *gorgonia.Node
				for t := 0; t < steps; t++ {
					x, err := b.Input(fmt.Sprintf("x%d", t), batch, in)
					if err != nil {
						return nil, err
					}
					if s, err = cell.Step(b, x, s); err != nil {
						return nil, err
					}
					if t == 1 {
						early = s.H
					}
				}
				return early, nil
			}
			if _, err := graph.GradCheck(ps, build, feeds, graph.MaxPerTensor(0)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The cells keep copies of their weights between the steps of a run (W_ih transposed for
// one-hot inputs, W_hh packed for the products): after an update, a program that has run
// before gives the same gradients, bit for bit, as one built afresh.
func TestCellWeightCopiesFollowUpdates(t *testing.T) {
	const batch, in, hidden, steps = 4, 6, 16, 3
	for _, k := range cellKinds {
		t.Run(k.name, func(t *testing.T) {
			ps := graph.NewParams(graph.Seed(5))
			cell, err := k.make(ps, "cell", in, hidden, k.opts...)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 4))
			feeds := cellOneHotFeeds(r, tensor.Float32, cell, batch, steps)
			trainer := func() *graph.Trainer {
				b := graph.NewBuilder(ps, graph.Train)
				y, err := cellUnroll(b, cell, batch, steps)
				if err != nil {
					t.Fatal(err)
				}
				proj, _ := b.Input("proj", y.Shape()...)
				if feeds["proj"] == nil {
					feeds["proj"] = cellRand(r, tensor.Float32, 1, y.Shape()...)
				}
				return projTrainer(t, b, y, proj, 0.5)
			}
			old := trainer()
			if _, err := old.Step(feeds); err != nil {
				t.Fatal(err)
			}
			_, got, err := old.Gradients(feeds)
			if err != nil {
				t.Fatal(err)
			}
			_, want, err := trainer().Gradients(feeds)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range ps.Trainable() {
				g, w := got[n].Data().([]float32), want[n].Data().([]float32)
				for i := range w {
					if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
						t.Fatalf("%s[%d]: %v after an update, %v from a new program", n, i, g[i], w[i])
					}
				}
			}
		})
	}
}
