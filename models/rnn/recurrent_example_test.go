package rnn_test

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/rnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// A two-layer LSTM unrolled over four steps: one (B, D) input node per step, the state threaded
// from step to step and from layer to layer. The mask gives the second sequence two real steps
// and two steps of padding, during which its state does not change.
func ExampleRecurrent() {
	ps := graph.NewParams(graph.Seed(1))
	lstm, err := rnn.NewRecurrent(ps, "lstm", rnn.LSTM, 2, 3, rnn.Layers(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ps.Names()[:4])

	const B, T = 2, 4
	b := graph.NewBuilder(ps, graph.Eval)
	feeds := graph.Feeds{}
	var xs, mask []*gorgonia.Node
	for t := 0; t < T; t++ {
		x, _ := b.Input(fmt.Sprintf("x%d", t), B, 2) // (B, D)
		m, _ := b.Input(fmt.Sprintf("m%d", t), B)    // (B): 1 real, 0 padding
		xs, mask = append(xs, x), append(mask, m)
		feeds[fmt.Sprintf("x%d", t)] = graph.NewTensor(tensor.Float32, []int{B, 2}, []float64{1, float64(t), -1, float64(t)})
		feeds[fmt.Sprintf("m%d", t)] = graph.NewTensor(tensor.Float32, []int{B}, []float64{1, map[bool]float64{true: 1}[t < 2]})
	}
	u, err := lstm.Forward(b, xs, nil, mask)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(u.Outputs), "outputs of shape", u.Outputs[0].Shape(), "and", len(u.Final), "final states")

	top := u.States[1] // layer 1: the state after each step
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"h1": top[1].H, "h3": top[3].H, "out3": u.Outputs[3]})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := prog.Run(feeds)
	if err != nil {
		fmt.Println(err)
		return
	}
	h1, h3 := graph.Float64s(out["h1"]), graph.Float64s(out["h3"])
	fmt.Println("sequence 2 kept its state through the padding:", fmt.Sprint(h1[3:]) == fmt.Sprint(h3[3:]))
	fmt.Println("its output at a padded step:", graph.Float64s(out["out3"])[3:])
	// Output:
	// [lstm.weight_ih_l0 lstm.weight_hh_l0 lstm.bias_ih_l0 lstm.bias_hh_l0]
	// 4 outputs of shape (2, 3) and 2 final states
	// sequence 2 kept its state through the padding: true
	// its output at a padded step: [0 0 0]
}

// Truncated backpropagation through time: every batch of 8 steps is cut into two segments of
// K = 4; each segment is one update, and its final state is carried into the next segment (and
// the next batch) as an input value, so no gradient crosses a boundary. The task, predicting
// the next id of the periodic stream 0 1 2 3 0 1 2 3 ..., is learnt quickly.
func ExampleSegmentTrainer() {
	ps := graph.NewParams(graph.Seed(1))
	net, err := rnn.NewNet(ps, "lm", rnn.GRU, 4, 16, 4, rnn.Embed(4))
	if err != nil {
		fmt.Println(err)
		return
	}
	tr, err := rnn.NewSegmentTrainer(net, solvers.NewAdam(0.05), 2, 4, rnn.ClipNorm(5))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("carried state:", tr.StateNames())
	batch := func(i int) *rnn.Batch {
		x, y := make([]float64, 2*8), make([]float64, 2*8)
		for b := 0; b < 2; b++ {
			for t := 0; t < 8; t++ {
				x[b*8+t] = float64((i*8 + t + b) % 4)
				y[b*8+t] = float64((i*8 + t + b + 1) % 4)
			}
		}
		return &rnn.Batch{X: graph.NewTensor(tensor.Float32, []int{2, 8}, x), Y: graph.NewTensor(tensor.Float32, []int{2, 8}, y)}
	}
	var first, last *rnn.StepResult
	for i := 0; i < 40; i++ {
		r, err := tr.Step(batch(i))
		if err != nil {
			fmt.Println(err)
			return
		}
		if i == 0 {
			first = r
		}
		last = r
	}
	fmt.Println("segments per batch:", len(last.Losses), "updates:", last.Updates)
	fmt.Printf("loss fell below a tenth: %v\n", last.Loss < first.Loss/10)
	_ = nodes.State{}
	// Output:
	// carried state: [carry.h_l0]
	// segments per batch: 2 updates: 80
	// loss fell below a tenth: true
}
