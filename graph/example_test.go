package graph_test

import (
	"fmt"

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
