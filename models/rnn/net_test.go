package rnn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
)

// randBatch makes a batch for net: inputs from U(-1, 1) (or ids), random targets, and, when
// lengths is not nil, a mask with those lengths.
func randBatch(r *rand.Rand, n *Net, batch, steps int, lengths []int) *data.SequenceBatch {
	bt := &data.SequenceBatch{}
	if n.Embeds() {
		v := make([]float64, batch*steps)
		for i := range v {
			v[i] = float64(r.IntN(n.embed.Vocab()))
		}
		bt.X = graph.NewTensor(tensor.Float64, []int{batch, steps}, v)
	} else {
		v := make([]float64, batch*steps*n.in)
		for i := range v {
			v[i] = 2*r.Float64() - 1
		}
		bt.X = graph.NewTensor(tensor.Float64, []int{batch, steps, n.in}, v)
	}
	var yshape []int
	switch {
	case n.Readout() == EveryStep && n.Loss() == CrossEntropy:
		yshape = []int{batch, steps}
	case n.Readout() == EveryStep:
		yshape = []int{batch, steps, n.out}
	case n.Loss() == CrossEntropy:
		yshape = []int{batch}
	default:
		yshape = []int{batch, n.out}
	}
	size := 1
	for _, d := range yshape {
		size *= d
	}
	y := make([]float64, size)
	for i := range y {
		if n.Loss() == CrossEntropy {
			y[i] = float64(r.IntN(n.out))
		} else {
			y[i] = 2*r.Float64() - 1
		}
	}
	bt.Y = graph.NewTensor(tensor.Float64, yshape, y)
	if lengths != nil {
		m := make([]float64, batch*steps)
		for b, l := range lengths {
			for t := 0; t < l; t++ {
				m[b*steps+t] = 1
			}
		}
		bt.Mask = graph.NewTensor(tensor.Float64, []int{batch, steps}, m)
	}
	return bt
}

// The gradient of whole unrolled models, masked and not, stacked and bidirectional, with every
// readout and loss, passes the finite-difference check in float64.
func TestNetGradCheck(t *testing.T) {
	type tc struct {
		kind    Kind
		opts    []Option
		lengths []int
		steps   int
	}
	cases := map[string]tc{
		"lstm 2 layers masked every step": {LSTM, []Option{Layers(2), Masked()}, []int{8, 5, 3}, 8},
		"gru 2 layers masked last state":  {GRU, []Option{Layers(2), Masked(), WithReadout(LastState)}, []int{8, 1, 6}, 8},
		"rnn 2 layers masked mean pool":   {RNN, []Option{Layers(2), Masked(), WithReadout(MeanPool), WithLoss(MSE)}, []int{4, 8, 2}, 8},
		"lstm bidirectional masked":       {LSTM, []Option{Bidirectional(), Masked(), WithReadout(LastState)}, []int{7, 8, 2}, 8},
		"gru embed 2 layers dropout mse":  {GRU, []Option{Layers(2), Embed(7), Dropout(0.3), WithLoss(MSE)}, nil, 5},
		"lstm primitive 2 layers masked":  {LSTM, []Option{Layers(2), Masked(), PrimitiveOps()}, []int{8, 5, 3}, 8},
	}
	if testing.Short() {
		delete(cases, "lstm primitive 2 layers masked")
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ps := graph.NewParams(graph.Seed(11), graph.Dtype(tensor.Float64))
			n, err := NewNet(ps, "net", c.kind, 3, 4, 3, c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			bt := randBatch(rand.New(rand.NewPCG(5, 6)), n, 3, c.steps, c.lengths)
			feeds, err := n.Feeds(bt, 0, c.steps)
			if err != nil {
				t.Fatal(err)
			}
			var wrt []string
			if !n.Embeds() {
				wrt = append(wrt, "x0", fmt.Sprintf("x%d", c.steps-1))
			}
			rep, err := graph.GradCheck(ps, func(b *graph.Builder) (*gorgonia.Node, error) {
				s, err := n.Build(b, 3, c.steps, nil)
				if err != nil {
					return nil, err
				}
				return s.Loss, nil
			}, feeds, graph.WithRespectTo(wrt...), graph.MaxPerTensor(60))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d elements, worst %v", rep.Checked, rep.Worst)
		})
	}
}
