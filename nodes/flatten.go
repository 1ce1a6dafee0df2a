package nodes

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
)

// Flatten maps (B, d1, d2, ...) to (B, d1·d2·...), keeping the batch axis: the bridge from
// convolutions (B, C, H, W) to Dense layers (B, C·H·W), in PyTorch's order (channel, then
// row, then column). A Func, it is also a Layer.
var Flatten Func = func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
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
func Reshape(shape ...int) Func {
	shape = append([]int(nil), shape...)
	return func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
		if x == nil {
			return nil, fmt.Errorf("reshape: nil input")
		}
		to, err := resolveShape(x.Shape(), shape)
		if err != nil {
			return nil, fmt.Errorf("reshape: %w", err)
		}
		return reshape(b, "reshape", x, to)
	}
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
	y, err := applyOp(reshapeOp{from: x.Shape().Clone(), to: tensor.Shape(to)}, b.Name(what), x)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return y, nil
}

// reshapeOp copies a tensor of shape from into a new tensor of shape to (the same number of
// elements). It copies rather than sharing the input's memory, so that no later in-place
// operation can change a value the caller fed. Its gradient is the reshape back.
type reshapeOp struct {
	pure
	from, to tensor.Shape
}

func (op reshapeOp) Arity() int            { return 1 }
func (op reshapeOp) Type() hm.Type         { return hm.NewFnType(tensorOf(len(op.from)), tensorOf(len(op.to))) }
func (op reshapeOp) String() string        { return fmt.Sprintf("reshape %v -> %v", op.from, op.to) }
func (op reshapeOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "unroll.reshape %v->%v", op.from, op.to) }
func (op reshapeOp) Hashcode() uint32      { return hashOf(op) }
func (op reshapeOp) DiffWRT(int) []bool    { return []bool{true} }

func (op reshapeOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	if !s.Eq(op.from) {
		return nil, fmt.Errorf("%v: input has shape %v", op, s)
	}
	return op.to.Clone(), nil
}

func (op reshapeOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto copies the input into out (a new tensor when out is nil).
func (op reshapeOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 1)
	if err != nil {
		return nil, err
	}
	if !ts[0].Shape().Eq(op.from) {
		return nil, fmt.Errorf("%v: input has shape %v", op, ts[0].Shape())
	}
	if out, err = outputFor(op, out, dt, op.to); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		compute.Copy(data[float32](out), data[float32](ts[0]))
	} else {
		compute.Copy(data[float64](out), data[float64](ts[0]))
	}
	return out, nil
}

func (op reshapeOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := applyOp(reshapeOp{from: op.to, to: op.from}, gradName(out, "x"), grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx}, nil
}
