package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
)

// reshapeOp copies a tensor of shape from into a new tensor of shape to (the same number of
// elements). It copies rather than sharing the input's memory, so that no later in-place
// operation can change a value the caller fed. Its gradient is the reshape back.
type reshapeOp struct {
	base
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
	return applyGrads(out, gradOf{reshapeOp{from: op.to, to: op.from}, "x", gorgonia.Nodes{grad}})
}

// Reshape adds a copy of x with the shape to (as many elements) to x's graph.
func Reshape(x *gorgonia.Node, to []int, name string) (*gorgonia.Node, error) {
	return Apply(reshapeOp{from: x.Shape().Clone(), to: tensor.Shape(to)}, name, x)
}
