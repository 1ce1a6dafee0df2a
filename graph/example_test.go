package graph_test

import (
	"fmt"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// The core contracts in one place: a Params set with one seeded random source, a layer made by
// New...(params, name, sizes...), a training graph and an evaluation graph of another batch size
// built from the same parameters, and a trainer.
func Example() {
	ps := graph.NewParams(graph.Seed(1))
	fc, err := nodes.NewDense(ps, "fc", 3, 1) // creates fc.weight (1, 3) and fc.bias (1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(ps.Summary())

	// Training graph, batch 4: learn y = x1 + 2 x2 - x3.
	b := graph.NewBuilder(ps, graph.Train)
	x, _ := b.Input("x", 4, 3)
	y, _ := b.Input("y", 4, 1)
	out, _ := fc.Forward(b, x) // (4, 1)
	loss := gorgonia.Must(gorgonia.Mean(gorgonia.Must(gorgonia.Square(gorgonia.Must(gorgonia.Sub(out, y))))))
	tr, err := graph.NewTrainer(b, loss, solvers.NewSGD(0.1))
	if err != nil {
		fmt.Println(err)
		return
	}
	feeds := graph.Feeds{
		"x": graph.NewTensor(tensor.Float32, []int{4, 3}, []float64{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}),
		"y": graph.NewTensor(tensor.Float32, []int{4, 1}, []float64{1, 2, -1, 2}),
	}
	var res *graph.StepResult
	for i := 0; i < 300; i++ {
		if res, err = tr.Step(feeds); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Printf("after %d steps the loss is below 1e-4: %v\n", res.Step, res.Loss < 1e-4)

	// Evaluation graph, batch 1, same parameters.
	e := graph.NewBuilder(ps, graph.Eval)
	x1, _ := e.Input("x", 1, 3)
	out1, _ := fc.Forward(e, x1)
	prog, _ := graph.Compile(e, map[string]*gorgonia.Node{"y": out1})
	got, err := prog.Run(graph.Feeds{"x": graph.NewTensor(tensor.Float32, []int{1, 3}, []float64{2, 1, 1})})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("f(2, 1, 1) = %.2f\n", graph.Float64s(got["y"])[0])

	// A feed of the wrong shape is an error naming the input.
	_, err = prog.Run(graph.Feeds{"x": graph.NewTensor(tensor.Float32, []int{2, 3}, nil)})
	fmt.Println(err)
	// Output:
	// name       kind   shape   values
	// fc.weight  param  (1, 3)  3
	// fc.bias    param  (1)     1
	// total: 2 parameters (4 values), 0 buffers (0 values), float32
	// after 300 steps the loss is below 1e-4: true
	// f(2, 1, 1) = 3.00
	// graph: input "x" has shape (2, 3), want (1, 3)
}

// Builder.Dot draws the backward pass NewTrainer adds to a graph: here an RNN cell unrolled
// over two steps, with its parameters and the nodes that slice and add gradients hidden, the
// inputs on one row and the cell's steps on another. Render the text with Graphviz's dot.
func ExampleBuilder_Dot() {
	ps := graph.NewParams(graph.Seed(1))
	cell, _ := nodes.NewRNNCell(ps, "rnn", 2, 3)
	out, _ := nodes.NewDense(ps, "out", 3, 1)
	b := graph.NewBuilder(ps, graph.Train)
	h, _ := b.Input("h0", 1, 3)
	for _, name := range []string{"x1", "x2"} {
		x, _ := b.Input(name, 1, 2)
		s, _ := cell.Step(b, x, nodes.State{H: h}) // nodes rnn.step, rnn.step#2
		h = s.H
	}
	o, _ := out.Forward(b, h)
	y, _ := b.Input("y", 1, 1)
	loss, _ := nodes.MSE(b, o, y)
	if _, err := graph.NewTrainer(b, loss, nil); err != nil {
		fmt.Println(err)
		return
	}
	dot := b.Dot(graph.DotGradient(),
		graph.DotHide("rnn.weight*", "rnn.bias*", "rnn.weights", "out.*", "part(*", "+ *", "dw(*", "db(*", "1"),
		graph.DotRow("x1", "x2"), graph.DotRow("rnn.step", "rnn.step#2"),
		graph.DotRow("dstep(rnn.step)", "dstep(rnn.step#2)"))
	for _, line := range strings.Split(dot, "\n") {
		if strings.Contains(line, "#d62728") || strings.Contains(line, "rank=same") {
			fmt.Println(strings.TrimSpace(line)) // the backward pass's nodes and edges, and the rows
		}
	}
	// The gradient of the loss goes through the output layer to step 2's cell (n21), and from
	// there to x2 (n22, dashed: inputs get no gradient) and back to step 1's cell (n29).

	// Output:
	// n16 [label="d(mse)·1\n(1, 1)", fillcolor="#f9d0d0", color="#d62728"];
	// n17 [label="d(mse)·-1\n(1, 1)", fillcolor="#f9d0d0", color="#d62728", style="rounded,filled,dashed"];
	// n18 [label="∂linear/∂x\n(1, 3)", fillcolor="#f9d0d0", color="#d62728"];
	// n21 [label="rnn_tanhStepGrad(b=1, in=2, h=3)\n(6)", fillcolor="#f9d0d0", color="#d62728"];
	// n22 [label="rnn_tanhInputGrad(b=1, in=2, h=3)\n(1, 2)", fillcolor="#f9d0d0", color="#d62728", style="rounded,filled,dashed"];
	// n29 [label="rnn_tanhStepGrad(b=1, in=2, h=3)\n(6)", fillcolor="#f9d0d0", color="#d62728"];
	// n30 [label="rnn_tanhInputGrad(b=1, in=2, h=3)\n(1, 2)", fillcolor="#f9d0d0", color="#d62728", style="rounded,filled,dashed"];
	// n16 -> n18 [color="#d62728", penwidth=1.5];
	// n18 -> n21 [color="#d62728", penwidth=1.5];
	// n21 -> n22 [color="#d62728", penwidth=1.5];
	// n21 -> n29 [color="#d62728", penwidth=1.5];
	// n29 -> n30 [color="#d62728", penwidth=1.5];
	// { rank=same; n1; n8; }
	// { rank=same; n7; n9; }
	// { rank=same; n29; n21; }
}
