package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Linear adds y = x Wᵀ (+ b) to x's graph: inputs x (B, in), W (out, in) and, when a third
// is given, b (out); output (B, out).
func Linear(name string, inputs ...*gorgonia.Node) (*gorgonia.Node, error) {
	if len(inputs) < 2 || len(inputs) > 3 {
		return nil, fmt.Errorf("linear: %d inputs, want x, W and an optional bias", len(inputs))
	}
	return Apply(linearOp{bias: len(inputs) == 3}, name, inputs...)
}

// linearOp computes y = x Wᵀ (+ b) in one operation: x (B, in), W (out, in), b (out), y (B, out).
// Its gradients are linearGradOp values: dx = dy W, dW = dyᵀ x, db = the column sums of dy.
type linearOp struct {
	base
	bias bool
}

func (op linearOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}

func (op linearOp) Type() hm.Type {
	if op.bias {
		return fnType(2, 2, 2, 1)
	}
	return fnType(2, 2, 2)
}

func (op linearOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(op, in, 2)
	if err != nil {
		return nil, err
	}
	x, w := s[0], s[1]
	if len(x) != 2 || len(w) != 2 || x[1] != w[1] {
		return nil, fmt.Errorf("%v: input %v and weight %v do not fit", op, x, w)
	}
	return tensor.Shape{x[0], w[0]}, nil
}

func (op linearOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "unroll.linear(bias=%v)", op.bias) }
func (op linearOp) Hashcode() uint32      { return hashOf(op) }
func (op linearOp) String() string        { return "x·Wᵀ+b" }

func (op linearOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) { return op.DoInto(nil, in...) }

// DoInto computes y into out, a (B, out) tensor.
func (op linearOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, op.Arity())
	if err != nil {
		return nil, err
	}
	xs, ws := ts[0].Shape(), ts[1].Shape()
	if len(xs) != 2 || len(ws) != 2 || xs[1] != ws[1] || (op.bias && ts[2].Shape().TotalSize() != ws[0]) {
		return nil, fmt.Errorf("%v: input %v, weight %v and bias do not fit", op, xs, ws)
	}
	bsz, nin, nout := xs[0], xs[1], ws[0]
	if out, err = outputFor(op, out, dt, []int{bsz, nout}); err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts, linearForward[float32](op.bias, bsz, nin, nout), linearForward[float64](op.bias, bsz, nin, nout))
}

func linearForward[T Float](bias bool, bsz, nin, nout int) func(y []T, in [][]T) error {
	return func(y []T, in [][]T) error {
		var beta T
		if bias {
			for r := 0; r < bsz; r++ {
				copy(y[r*nout:(r+1)*nout], in[2])
			}
			beta = 1
		}
		matmul(false, true, bsz, nout, nin, in[0], nin, in[1], nin, beta, y, nout)
		return nil
	}
}

func (op linearOp) DiffWRT(n int) []bool { return allTrue(n) }

func (op linearOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if err := checkArity(op, in, op.Arity()); err != nil {
		return nil, err
	}
	gs := []gradOf{{linearGradOp{wrt: 'x'}, "x", gorgonia.Nodes{grad, in[1]}}, {linearGradOp{wrt: 'w'}, "w", gorgonia.Nodes{grad, in[0]}}}
	if op.bias {
		gs = append(gs, gradOf{linearGradOp{wrt: 'b'}, "b", gorgonia.Nodes{grad}})
	}
	return applyGrads(out, gs...)
}

// linearGradOp computes one gradient of linearOp from the output gradient dy (B, out):
// wrt 'x': dx = dy W, inputs (dy, W), shape (B, in);
// wrt 'w': dW = dyᵀ x, inputs (dy, x), shape (out, in);
// wrt 'b': db = Σ_rows dy, input dy, shape (out).
type linearGradOp struct {
	base
	backward
	wrt byte
}

func (op linearGradOp) Arity() int {
	if op.wrt == 'b' {
		return 1
	}
	return 2
}

func (op linearGradOp) Type() hm.Type {
	if op.wrt == 'b' {
		return fnType(1, 2)
	}
	return fnType(2, 2, 2)
}

// outShape is the gradient's shape for the shapes of dy and of the other input.
func (op linearGradOp) outShape(dy, other tensor.Shape) tensor.Shape {
	switch op.wrt {
	case 'x':
		return tensor.Shape{dy[0], other[1]}
	case 'w':
		return tensor.Shape{dy[1], other[1]}
	}
	return tensor.Shape{dy[1]}
}

func (op linearGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	dy, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	var other tensor.Shape
	if op.wrt != 'b' {
		if other, err = shapeOf(op, in, 1); err != nil {
			return nil, err
		}
	}
	return op.outShape(dy, other), nil
}

func (op linearGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "unroll.linear.grad(%c)", op.wrt) }
func (op linearGradOp) Hashcode() uint32      { return hashOf(op) }
func (op linearGradOp) String() string        { return "∂linear/∂" + string(op.wrt) }

func (op linearGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) { return op.DoInto(nil, in...) }

// DoInto computes the gradient into out.
func (op linearGradOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, op.Arity())
	if err != nil {
		return nil, err
	}
	dy := ts[0].Shape()
	var other tensor.Shape
	if op.wrt != 'b' {
		other = ts[1].Shape()
	}
	if out, err = outputFor(op, out, dt, op.outShape(dy, other)); err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts, linearGrad[float32](op.wrt, dy, other), linearGrad[float64](op.wrt, dy, other))
}

func linearGrad[T Float](wrt byte, dy, other tensor.Shape) func(o []T, in [][]T) error {
	return func(o []T, in [][]T) error {
		bsz, nout := dy[0], dy[1]
		switch wrt {
		case 'b':
			sumRows(o, in[0], bsz, nout)
		case 'x':
			nin := other[1]
			matmul(false, false, bsz, nin, nout, in[0], nout, in[1], nin, 0, o, nin) // (B,out)(out,in)
		default:
			nin := other[1]
			matmul(true, false, nout, nin, bsz, in[0], nout, in[1], nin, 0, o, nin) // (out,B)(B,in)
		}
		return nil
	}
}

func sumRows[T Float](dst, src []T, rows, cols int) {
	clear(dst)
	for r := 0; r < rows; r++ {
		row := src[r*cols : (r+1)*cols]
		for j, v := range row {
			dst[j] += v
		}
	}
}
