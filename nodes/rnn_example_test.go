package nodes_test

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// One step of an LSTM cell: the input x_t and the state (h_{t-1}, c_{t-1}) give the next state
// (h_t, c_t). The cell's parameters carry PyTorch's names and shapes.
func ExampleLSTMCell() {
	ps := graph.NewParams(graph.Seed(1))
	cell, err := nodes.NewLSTMCell(ps, "cell", 3, 2, nodes.ForgetBias(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range cell.ParamNames() {
		fmt.Println(name, ps.Value(name).Shape())
	}

	b := graph.NewBuilder(ps, graph.Eval)
	x, _ := b.Input("x", 1, 3)   // (B, In)
	h0, _ := b.Input("h0", 1, 2) // (B, H)
	c0, _ := b.Input("c0", 1, 2) // (B, H)
	s, err := cell.Step(b, x, nodes.State{H: h0, C: c0})
	if err != nil {
		fmt.Println(err)
		return
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"h": s.H, "c": s.C})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := prog.Run(graph.Feeds{
		"x":  graph.NewTensor(tensor.Float32, []int{1, 3}, []float64{1, 0, -1}),
		"h0": graph.NewTensor(tensor.Float32, []int{1, 2}, []float64{0, 0}),
		"c0": graph.NewTensor(tensor.Float32, []int{1, 2}, []float64{0.5, -0.5}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("h_1 = %.4f\nc_1 = %.4f\n", graph.Float64s(out["h"]), graph.Float64s(out["c"]))
	// Output:
	// cell.weight_ih (8, 3)
	// cell.weight_hh (8, 2)
	// cell.bias_ih (8)
	// cell.bias_hh (8)
	// h_1 = [0.2507 -0.0076]
	// c_1 = [0.5116 -0.0259]
}
