package rnn

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
)

// AddingProblem draws n sequences of the adding problem (Hochreiter and Schmidhuber, 1997; in
// the form of Le et al., 2015), a task that needs memory over the whole sequence. Each step
// has two features: a value drawn from U(0, 1) and a marker that is 1 at exactly two steps,
// one in the first half of the sequence and one in the second, and 0 elsewhere. The target is
// the sum of the two marked values. X is (n, steps, 2) and Y is (n, 1), for a Net with the
// LastState readout and the MSE loss.
//
// Predicting the constant 1 gives a mean squared error of 1/6 ≈ 0.167 (the variance of the sum
// of two uniform values); a model does better only by remembering the first marked value for
// at least steps/2 steps.
func AddingProblem(r *rand.Rand, n, steps int, dtype tensor.Dtype) (*Batch, error) {
	if n < 1 || steps < 2 {
		return nil, fmt.Errorf("adding problem: need at least 1 sequence and 2 steps, got %d and %d", n, steps)
	}
	x := make([]float64, n*steps*2)
	y := make([]float64, n)
	half := steps / 2
	for i := 0; i < n; i++ {
		for t := 0; t < steps; t++ {
			x[(i*steps+t)*2] = r.Float64()
		}
		a := r.IntN(half)
		b := half + r.IntN(steps-half)
		for _, t := range []int{a, b} {
			x[(i*steps+t)*2+1] = 1
			y[i] += x[(i*steps+t)*2]
		}
	}
	return &Batch{
		X: graph.NewTensor(dtype, []int{n, steps, 2}, x),
		Y: graph.NewTensor(dtype, []int{n, 1}, y),
	}, nil
}
