package solvers

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// ClipGlobalNorm scales the gradients in place so that their global L2 norm is at most maxNorm,
// as PyTorch's torch.nn.utils.clip_grad_norm_ does, and returns the norm they had before:
// GlobalNorm followed by ClipToNorm.
//
// It changes nothing and returns an error when maxNorm is not positive, a gradient is nil, a
// view or not float32 or float64, or the norm is NaN or infinite (the norm is returned then too).
func ClipGlobalNorm(grads []*tensor.Dense, maxNorm float64) (norm float64, err error) {
	if !(maxNorm > 0) {
		return 0, fmt.Errorf("clip global norm: max norm %v is not positive", maxNorm)
	}
	if norm, err = GlobalNorm(grads); err != nil {
		return norm, fmt.Errorf("clip global norm: %w", err)
	}
	return norm, ClipToNorm(grads, norm, maxNorm)
}

// GlobalNorm returns the L2 norm of all gradients taken as one vector, summing squares in
// float64; no gradients give 0. A gradient that is nil, a view or not float32 or float64, or a
// norm that is NaN or infinite, is an error (the norm is returned then too).
func GlobalNorm(grads []*tensor.Dense) (float64, error) {
	for i, g := range grads {
		if err := checkTensor(g); err != nil {
			return 0, fmt.Errorf("gradient %d: %w", i, err)
		}
	}
	var sum float64
	for _, g := range grads {
		if g.Dtype() == tensor.Float32 {
			sum += sumSquares(g.Float32s())
		} else {
			sum += sumSquares(g.Float64s())
		}
	}
	norm := math.Sqrt(sum)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return norm, fmt.Errorf("gradient norm is %v", norm)
	}
	return norm, nil
}

// ClipToNorm scales gradients whose global norm is norm (from GlobalNorm) so that it is at most
// maxNorm: every gradient is multiplied by
//
//	min(1, maxNorm / (norm + 1e-6)),
//
// rounded to its dtype; like PyTorch, this scales when norm > maxNorm - 1e-6 and leaves the
// gradients untouched otherwise. This is the one place the rule lives: trainers compute the
// norm once, report it, and clip with it.
func ClipToNorm(grads []*tensor.Dense, norm, maxNorm float64) error {
	if !(maxNorm > 0) {
		return fmt.Errorf("clip to norm: max norm %v is not positive", maxNorm)
	}
	coef := maxNorm / (norm + 1e-6)
	if coef >= 1 {
		return nil
	}
	for _, g := range grads {
		if g.Dtype() == tensor.Float32 {
			scale(g.Float32s(), float32(coef))
		} else {
			scale(g.Float64s(), coef)
		}
	}
	return nil
}

func sumSquares[T float](x []T) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s
}

func scale[T float](x []T, c T) {
	for i := range x {
		x[i] *= c
	}
}
