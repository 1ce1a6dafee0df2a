package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
)

// dropMulOp is the elementwise product y = x ⊙ m of two tensors of one shape (dropout's mask);
// its gradients are dx = dy ⊙ m and dm = dy ⊙ x, products of the same kind.
type dropMulOp struct {
	base
	rank int
}

func (op dropMulOp) Arity() int { return 2 }
func (op dropMulOp) Type() hm.Type {
	t := tensorOf(op.rank)
	return hm.NewFnType(t, t, t)
}
func (op dropMulOp) String() string        { return "⊙" }
func (op dropMulOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "unroll.dropmul rank=%d", op.rank) }
func (op dropMulOp) Hashcode() uint32      { return hashOf(op) }
func (op dropMulOp) DiffWRT(int) []bool    { return []bool{true, true} }

func (op dropMulOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := equalShapes(op, in)
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (op dropMulOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the product into out (a new tensor when out is nil).
func (op dropMulOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sameInto(op, out, in, 2)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		dropMultiply(data[float32](ts[0]), data[float32](ts[1]), data[float32](out))
	} else {
		dropMultiply(data[float64](ts[0]), data[float64](ts[1]), data[float64](out))
	}
	return out, nil
}

// dropMultiply sets z = x ⊙ y, its elements shared among the threads.
func dropMultiply[T Float](x, y, z []T) {
	compute.Elems(len(x), func(lo, hi int) {
		if is32[T]() {
			mul32(f32s(z[lo:hi]), f32s(x[lo:hi]), f32s(y[lo:hi]))
			return
		}
		y, z := y[lo:hi], z[lo:hi]
		for i, v := range x[lo:hi] {
			z[i] = v * y[i]
		}
	})
}

func (op dropMulOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkArity(op, in, 2); err != nil {
		return nil, err
	}
	return applyGrads(out, gradOf{op, "x", gorgonia.Nodes{grad, in[1]}}, gradOf{op, "mask", gorgonia.Nodes{grad, in[0]}})
}

// Mul adds the elementwise product x ⊙ m of two tensors of one shape to x's graph.
func Mul(x, m *gorgonia.Node, name string) (*gorgonia.Node, error) {
	return Apply(dropMulOp{rank: x.Dims()}, name, x, m)
}
