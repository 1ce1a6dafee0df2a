package nodes

import (
	"fmt"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// Flatten maps (B, d1, d2, ...) to (B, d1·d2·...), keeping the batch axis: the bridge from
// convolutions (B, C, H, W) to Dense layers (B, C·H·W), in PyTorch's order (channel, then
// row, then column). A layer without parameters, like PyTorch's nn.Flatten().
type Flatten struct{}

// Forward adds the flattening of x to b's graph.
func (Flatten) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("flatten: nil input")
	}
	s := x.Shape()
	if len(s) < 1 {
		return nil, fmt.Errorf("flatten: input must have a batch axis, has shape %v", s)
	}
	return reshape(b, "flatten", x, []int{s[0], s.TotalSize() / s[0]})
}

// Reshape returns a layer that gives its input the shape shape, with the same elements in the
// same (row-major) order, like PyTorch's view; one entry may be -1, inferred from the others.
// The batch axis is part of shape: Reshape(-1, 1, 28, 28) turns (B, 784) into (B, 1, 28, 28).
func Reshape(shape ...int) Layer { return reshapeLayer{shape: slices.Clone(shape)} }

// reshapeLayer is the layer Reshape returns.
type reshapeLayer struct{ shape []int }

// Forward gives x the layer's shape.
func (r reshapeLayer) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("reshape: nil input")
	}
	to, err := resolveShape(x.Shape(), r.shape)
	if err != nil {
		return nil, fmt.Errorf("reshape: %w", err)
	}
	return reshape(b, "reshape", x, to)
}

// resolveShape fills the -1 of shape so that it holds as many elements as from.
func resolveShape(from tensor.Shape, shape []int) ([]int, error) {
	if len(shape) == 0 {
		return nil, fmt.Errorf("no shape given for input %v", from)
	}
	to := append([]int(nil), shape...)
	known, free := 1, -1
	for i, d := range to {
		switch {
		case d == -1 && free < 0:
			free = i
		case d == -1:
			return nil, fmt.Errorf("shape %v has more than one -1", tensor.Shape(shape))
		case d < 1:
			return nil, fmt.Errorf("shape %v has a size below 1", tensor.Shape(shape))
		default:
			known *= d
		}
	}
	n := from.TotalSize()
	if free >= 0 {
		if n%known != 0 {
			return nil, fmt.Errorf("cannot view input %v (%d values) as %v", from, n, tensor.Shape(shape))
		}
		to[free] = n / known
		known *= to[free]
	}
	if known != n {
		return nil, fmt.Errorf("cannot view input %v (%d values) as %v (%d values)", from, n, tensor.Shape(shape), known)
	}
	return to, nil
}

func reshape(b *graph.Builder, what string, x *gorgonia.Node, to []int) (*gorgonia.Node, error) {
	y, err := ops.Reshape(x, to, b.Name(what))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return y, nil
}
