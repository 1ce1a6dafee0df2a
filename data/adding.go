package data

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// AddingProblem draws n sequences of the adding problem (Hochreiter and Schmidhuber, 1997; in
// the form of Le et al., 2015), a task that needs memory over the whole sequence. Each step
// has two features: a value drawn from U(0, 1) and a marker that is 1 at exactly two steps,
// one in the first half of the sequence and one in the second, and 0 elsewhere. The target is
// the sum of the two marked values. X is (n, steps, 2) and Y is (n, 1), for a model that reads
// out its last state with a mean squared error; dtype is tensor.Float32 or tensor.Float64.
//
// Predicting the constant 1 gives a mean squared error of 1/6 ≈ 0.167 (the variance of the sum
// of two uniform values); a model does better only by remembering the first marked value for
// at least steps/2 steps. The sequences are drawn one after the other, so n sequences drawn
// at once are those of n/B successive draws of B.
func AddingProblem(rng *rand.Rand, n, steps int, dtype tensor.Dtype) (*SequenceSet, error) {
	switch {
	case n < 1 || steps < 2:
		return nil, fmt.Errorf("adding problem: need at least 1 sequence and 2 steps, got %d and %d", n, steps)
	case rng == nil:
		return nil, errors.New("adding problem: need a random generator")
	}
	if err := checkDtype(dtype); err != nil {
		return nil, fmt.Errorf("adding problem: %w", err)
	}
	x := make([]float64, n*steps*2)
	y := make([]float64, n)
	half := steps / 2
	for i := range n {
		for t := range steps {
			x[(i*steps+t)*2] = rng.Float64()
		}
		a := rng.IntN(half)
		b := half + rng.IntN(steps-half)
		for _, t := range []int{a, b} {
			x[(i*steps+t)*2+1] = 1
			y[i] += x[(i*steps+t)*2]
		}
	}
	return &SequenceSet{X: newTensor(dtype, []int{n, steps, 2}, x), Y: newTensor(dtype, []int{n, 1}, y)}, nil
}

// RowSequences reads each image of set as a sequence of its rows, for a recurrent model:
// step t of image i is row t, its C*W values channel after channel (element c*W+x is pixel
// (c, t, x)), normalised as the set records (see ImageSet.Normalize), as the image batches
// would give them. X is (N, H, C*W) and Y (N) the class labels, of element type dtype
// (tensor.Float32 or tensor.Float64). The 8x8 digits become 8-step sequences of 8 values.
func RowSequences(set *ImageSet, dtype tensor.Dtype) (*SequenceSet, error) {
	if err := set.check(); err != nil {
		return nil, fmt.Errorf("row sequences: %w", err)
	}
	if err := checkDtype(dtype); err != nil {
		return nil, fmt.Errorf("row sequences: %w", err)
	}
	C, H, W := set.Channels(), set.H, set.W
	x := make([]float64, set.N*H*C*W)
	y := make([]float64, set.N)
	for i := range set.N {
		img := set.Float32s(i) // (C, H, W)
		for c := range C {
			for t := range H {
				for k := range W {
					v := float64(img[(c*H+t)*W+k])
					if set.Pixels != nil {
						v = float64(set.Pixels[i*C*H*W+(c*H+t)*W+k]) / 255 // exact, as the batches take it
					}
					x[(i*H+t)*C*W+c*W+k] = set.Norm.apply(c, v)
				}
			}
		}
		y[i] = float64(set.Labels[i])
	}
	return &SequenceSet{X: newTensor(dtype, []int{set.N, H, C * W}, x), Y: newTensor(dtype, []int{set.N}, y)}, nil
}
