package nodes_test

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// sumCell is the smallest recurrent cell: H_t = H_{t-1} + X_t. It shows the Cell contract:
// Step takes one time step from an explicit state.
type sumCell struct{ width int }

func (c sumCell) Step(b *graph.Builder, x *gorgonia.Node, s nodes.State) (nodes.State, error) {
	h, err := gorgonia.Add(s.H, x)
	return nodes.State{H: h}, err
}
func (c sumCell) InputSize() int  { return c.width }
func (c sumCell) HiddenSize() int { return c.width }
func (c sumCell) HasCell() bool   { return false }

// A cell unrolled over T = 3 steps of a (B, T, D) = (1, 3, 2) sequence: one (B, D) input node
// per step, the state threaded from step to step and carried from one run to the next, as
// truncated backpropagation through time carries it from segment to segment.
func Example_cell() {
	var cell nodes.Cell = sumCell{width: 2}
	b := graph.NewBuilder(graph.NewParams(), graph.Eval)
	h0, _ := b.State("h0", 1, 2)
	state := nodes.State{H: h0}
	for t := 0; t < 3; t++ {
		x, _ := b.Input(fmt.Sprintf("x%d", t), 1, 2) // (B, D)
		state, _ = cell.Step(b, x, state)
	}
	_ = b.Carry("h0", state.H)
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"h": state.H})
	if err != nil {
		fmt.Println(err)
		return
	}
	feeds := graph.Feeds{}
	for t := 0; t < 3; t++ {
		feeds[fmt.Sprintf("x%d", t)] = graph.NewTensor(tensor.Float32, []int{1, 2}, []float64{1, float64(t)})
	}
	for run := 0; run < 2; run++ {
		out, _ := prog.Run(feeds)
		fmt.Println("H_T after run", run+1, graph.Float64s(out["h"]))
	}
	// Output:
	// H_T after run 1 [3 3]
	// H_T after run 2 [6 6]
}
