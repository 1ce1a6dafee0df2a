package graph

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
)

// sumOp runs Gorgonia's elementwise sum of two tensors of one shape, the node gorgonia.Grad
// adds where the gradients of a value that feeds several nodes meet (a recurrent state read by
// the next step and by the output layer), with compute.Add: the same sums, each rounded once,
// on AVX-512 where Gorgonia's loop adds one value at a time. Anything else it is given (a
// value that is not a dense float tensor of the output's shape) goes to Gorgonia's op.
type sumOp struct{ op gorgonia.UsePreallocDoer }

func (s sumOp) DoInto(out *tensor.Dense, inputs ...gorgonia.Value) (gorgonia.Value, error) {
	if len(inputs) == 2 {
		a, aok := inputs[0].(*tensor.Dense)
		b, bok := inputs[1].(*tensor.Dense)
		if aok && bok && a.Shape().Eq(out.Shape()) && b.Shape().Eq(out.Shape()) &&
			a.Dtype() == out.Dtype() && b.Dtype() == out.Dtype() && !a.IsMaterializable() && !b.IsMaterializable() {
			switch o := out.Data().(type) {
			case []float32:
				compute.Add(o, a.Data().([]float32), b.Data().([]float32))
				return out, nil
			case []float64:
				compute.Add(o, a.Data().([]float64), b.Data().([]float64))
				return out, nil
			}
		}
	}
	return s.op.UsePreallocDo(out, inputs...)
}

// sumOps recognises Gorgonia's elementwise sum by comparing an op with the one gorgonia.Add
// makes for two tensors of the same dtype and dimensions (their hash and name), one reference
// per kind of tensor.
type sumOps map[string]gorgonia.Op

// is reports whether node n, with children, is Gorgonia's sum of two tensors of n's shape.
func (r sumOps) is(n *gorgonia.Node, children []*gorgonia.Node) bool {
	if len(children) != 2 || n.Dims() == 0 || !children[0].Shape().Eq(n.Shape()) || !children[1].Shape().Eq(n.Shape()) {
		return false
	}
	key := fmt.Sprintf("%v/%d", n.Dtype(), n.Dims())
	ref, ok := r[key]
	if !ok {
		g := gorgonia.NewGraph()
		shape := n.Shape().Clone()
		a := gorgonia.NewTensor(g, n.Dtype(), n.Dims(), gorgonia.WithShape(shape...))
		b := gorgonia.NewTensor(g, n.Dtype(), n.Dims(), gorgonia.WithShape(shape...))
		if s, err := gorgonia.Add(a, b); err == nil {
			ref = s.Op()
		}
		r[key] = ref
	}
	return ref != nil && ref.Hashcode() == n.Op().Hashcode() && ref.String() == n.Op().String()
}
