package solvers_test

import (
	"fmt"
	"maps"
	"slices"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/solvers"
)

func ExampleNewSGD() {
	w := tensor.New(tensor.WithShape(3), tensor.WithBacking([]float64{1, 2, 3}))
	g := tensor.New(tensor.WithShape(3), tensor.WithBacking([]float64{0.5, -1, 2}))
	sgd := solvers.NewSGD(0.1, solvers.Momentum(0.9))

	for range 2 {
		if err := sgd.Step([]solvers.Param{{Name: "w", Value: w, Grad: g}}); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("step %d: w = %.3f\n", sgd.Steps(), w.Data())
	}
	// Output:
	// step 1: w = [0.950 2.100 2.800]
	// step 2: w = [0.855 2.290 2.420]
}

func ExampleNewAdam() {
	w := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, 4}))
	g := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, -1, 0.5, 0}))
	adam := solvers.NewAdam(0.01, solvers.WithSchedule(solvers.Warmup(10, nil)))
	if err := adam.Step([]solvers.Param{{Name: "fc.weight", Value: w, Grad: g}}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("w = %.4f\n", w.Data())
	fmt.Println("next rate:", adam.LR())
	fmt.Println("state:", slices.Sorted(maps.Keys(adam.State())))
	// Output:
	// w = [0.9990 2.0010 2.9990 4.0000]
	// next rate: 0.002
	// state: [exp_avg/fc.weight exp_avg_sq/fc.weight step]
}

func ExampleClipGlobalNorm() {
	a := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{3, 0}))
	b := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{4}))
	norm, err := solvers.ClipGlobalNorm([]*tensor.Dense{a, b}, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("norm before: %.1f\n", norm)
	fmt.Printf("clipped: %.4f %.4f\n", a.Data(), b.Data())
	// Output:
	// norm before: 5.0
	// clipped: [0.6000 0.0000] [0.8000]
}

func ExampleNewAdam_error() {
	w := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{1, 2}))
	g := tensor.New(tensor.WithShape(3), tensor.WithBacking([]float64{1, 2, 3}))
	fmt.Println(solvers.NewAdam(-0.1).Step(nil))
	fmt.Println(solvers.NewAdam(0.1).Step([]solvers.Param{{Name: "fc.bias", Value: w, Grad: g}}))
	// Output:
	// adam: learning rate -0.1 is negative
	// adam: parameter "fc.bias": gradient has shape (3), value has shape (2)
}
