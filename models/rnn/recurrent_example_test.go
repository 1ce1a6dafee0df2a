package rnn_test

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/rnn"
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

// Truncated backpropagation through time: every sequence of 8 steps is cut into two segments
// of 4 (graph.Segment(4)); each segment is one update, and its final state is carried into the
// next segment as an input value, so no gradient crosses the boundary. The task, predicting the
// next id of the periodic streams 0 1 2 3 0 1 2 3 ..., is learnt quickly.
func ExampleNet_Fit_segments() {
	const n, T = 8, 8
	x, y := make([]float64, n*T), make([]float64, n*T)
	for i := range n { // sequence i starts at i mod 4
		for t := range T {
			x[i*T+t], y[i*T+t] = float64((i+t)%4), float64((i+t+1)%4)
		}
	}
	set := &data.SequenceSet{X: graph.NewTensor(tensor.Float32, []int{n, T}, x), Y: graph.NewTensor(tensor.Float32, []int{n, T}, y)}
	ps := graph.NewParams(graph.Seed(1))
	net, err := rnn.NewNet(ps, "lm", rnn.GRU, 4, 16, 4, rnn.Embed(4))
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := net.Fit(set, graph.Epochs(20), graph.Batch(4), graph.Segment(4),
		graph.Solver(solvers.NewAdam(0.05)), graph.ClipNorm(5))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("batches:", net.Run().Steps(), "updates:", net.Run().Solver().Steps())
	fmt.Printf("loss fell below a tenth: %v\n", h.Last().TrainLoss < h.Epochs[0].TrainLoss/10)
	m, err := net.Evaluate(set)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d steps predicted, accuracy above 95%%: %v\n", m.N, m.Accuracy > 0.95)
	// Output:
	// batches: 40 updates: 80
	// loss fell below a tenth: true
	// 64 steps predicted, accuracy above 95%: true
}
