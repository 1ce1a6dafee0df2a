package nodes

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/nodes/gemm"
)

// linearOp computes y = x Wᵀ (+ b) in one operation: x (B, in), W (out, in), b (out), y (B, out).
// Its gradients are linearGradOp values: dx = dy W, dW = dyᵀ x, db = the column sums of dy.
type linearOp struct{ bias bool }

func (op linearOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}

func (op linearOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	mat := &gorgonia.TensorType{Dims: 2, Of: a}
	if op.bias {
		return hm.NewFnType(mat, mat, &gorgonia.TensorType{Dims: 1, Of: a}, mat)
	}
	return hm.NewFnType(mat, mat, mat)
}

func (op linearOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	x, w := in[0].(tensor.Shape), in[1].(tensor.Shape)
	if len(x) != 2 || len(w) != 2 || x[1] != w[1] {
		return nil, fmt.Errorf("linear: input %v and weight %v do not fit", x, w)
	}
	return tensor.Shape{x[0], w[0]}, nil
}

func (op linearOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	x := in[0].(tensor.Tensor)
	w := in[1].(tensor.Tensor)
	out := tensor.New(tensor.Of(x.Dtype()), tensor.WithShape(x.Shape()[0], w.Shape()[0]))
	return op.DoInto(out, in...)
}

// DoInto computes y into out, a (B, out) tensor.
func (op linearOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	x, err := contiguous(in[0])
	if err != nil {
		return nil, err
	}
	w, err := contiguous(in[1])
	if err != nil {
		return nil, err
	}
	bsz, nin, nout := x.Shape()[0], x.Shape()[1], w.Shape()[0]
	switch y := out.Data().(type) {
	case []float32:
		beta := float32(0)
		if op.bias {
			b, err := contiguous(in[2])
			if err != nil {
				return nil, err
			}
			bias := b.Data().([]float32)
			for r := 0; r < bsz; r++ {
				copy(y[r*nout:(r+1)*nout], bias)
			}
			beta = 1
		}
		gemm.Sgemm(false, true, bsz, nout, nin, 1, x.Data().([]float32), nin, w.Data().([]float32), nin, beta, y, nout)
	case []float64:
		beta := 0.0
		if op.bias {
			b, err := contiguous(in[2])
			if err != nil {
				return nil, err
			}
			bias := b.Data().([]float64)
			for r := 0; r < bsz; r++ {
				copy(y[r*nout:(r+1)*nout], bias)
			}
			beta = 1
		}
		gemm.Dgemm(false, true, bsz, nout, nin, 1, x.Data().([]float64), nin, w.Data().([]float64), nin, beta, y, nout)
	default:
		return nil, fmt.Errorf("linear: unsupported dtype %v", out.Dtype())
	}
	return out, nil
}

func (op linearOp) ReturnsPtr() bool      { return false }
func (op linearOp) CallsExtern() bool     { return false }
func (op linearOp) OverwritesInput() int  { return -1 }
func (op linearOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "unroll.linear(bias=%v)", op.bias) }
func (op linearOp) Hashcode() uint32      { return hashOf(op) }
func (op linearOp) String() string        { return "x·Wᵀ+b" }

func (op linearOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

func (op linearOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := gorgonia.ApplyOp(linearGradOp{wrt: 'x'}, grad, in[1])
	if err != nil {
		return nil, err
	}
	dw, err := gorgonia.ApplyOp(linearGradOp{wrt: 'w'}, grad, in[0])
	if err != nil {
		return nil, err
	}
	if !op.bias {
		return gorgonia.Nodes{dx, dw}, nil
	}
	db, err := gorgonia.ApplyOp(linearGradOp{wrt: 'b'}, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx, dw, db}, nil
}

// linearGradOp computes one gradient of linearOp from the output gradient dy (B, out):
// wrt 'x': dx = dy W, inputs (dy, W), shape (B, in);
// wrt 'w': dW = dyᵀ x, inputs (dy, x), shape (out, in);
// wrt 'b': db = Σ_rows dy, input dy, shape (out).
type linearGradOp struct{ wrt byte }

func (op linearGradOp) Arity() int {
	if op.wrt == 'b' {
		return 1
	}
	return 2
}

func (op linearGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	mat := &gorgonia.TensorType{Dims: 2, Of: a}
	if op.wrt == 'b' {
		return hm.NewFnType(mat, &gorgonia.TensorType{Dims: 1, Of: a})
	}
	return hm.NewFnType(mat, mat, mat)
}

func (op linearGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	dy := in[0].(tensor.Shape)
	switch op.wrt {
	case 'x':
		return tensor.Shape{dy[0], in[1].(tensor.Shape)[1]}, nil
	case 'w':
		return tensor.Shape{dy[1], in[1].(tensor.Shape)[1]}, nil
	}
	return tensor.Shape{dy[1]}, nil
}

func (op linearGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	dy := in[0].(tensor.Tensor)
	var shape tensor.Shape
	switch op.wrt {
	case 'x':
		shape = tensor.Shape{dy.Shape()[0], in[1].Shape()[1]}
	case 'w':
		shape = tensor.Shape{dy.Shape()[1], in[1].Shape()[1]}
	default:
		shape = tensor.Shape{dy.Shape()[1]}
	}
	return op.DoInto(tensor.New(tensor.Of(dy.Dtype()), tensor.WithShape(shape...)), in...)
}

// DoInto computes the gradient into out.
func (op linearGradOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	dy, err := contiguous(in[0])
	if err != nil {
		return nil, err
	}
	bsz, nout := dy.Shape()[0], dy.Shape()[1]
	if op.wrt == 'b' {
		switch o := out.Data().(type) {
		case []float32:
			sumRows(o, dy.Data().([]float32), bsz, nout)
		case []float64:
			sumRows(o, dy.Data().([]float64), bsz, nout)
		}
		return out, nil
	}
	other, err := contiguous(in[1])
	if err != nil {
		return nil, err
	}
	nin := other.Shape()[1]
	switch o := out.Data().(type) {
	case []float32:
		g, v := dy.Data().([]float32), other.Data().([]float32)
		if op.wrt == 'x' {
			gemm.Sgemm(false, false, bsz, nin, nout, 1, g, nout, v, nin, 0, o, nin) // (B,out)(out,in)
		} else {
			gemm.Sgemm(true, false, nout, nin, bsz, 1, g, nout, v, nin, 0, o, nin) // (out,B)(B,in)
		}
	case []float64:
		g, v := dy.Data().([]float64), other.Data().([]float64)
		if op.wrt == 'x' {
			gemm.Dgemm(false, false, bsz, nin, nout, 1, g, nout, v, nin, 0, o, nin)
		} else {
			gemm.Dgemm(true, false, nout, nin, bsz, 1, g, nout, v, nin, 0, o, nin)
		}
	default:
		return nil, fmt.Errorf("linear gradient: unsupported dtype %v", out.Dtype())
	}
	return out, nil
}

func (op linearGradOp) ReturnsPtr() bool      { return false }
func (op linearGradOp) CallsExtern() bool     { return false }
func (op linearGradOp) OverwritesInput() int  { return -1 }
func (op linearGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "unroll.linear.grad(%c)", op.wrt) }
func (op linearGradOp) Hashcode() uint32      { return hashOf(op) }
func (op linearGradOp) String() string        { return "∂linear/∂" + string(op.wrt) }

func sumRows[T float32 | float64](dst, src []T, rows, cols int) {
	clear(dst)
	for r := 0; r < rows; r++ {
		row := src[r*cols : (r+1)*cols]
		for j, v := range row {
			dst[j] += v
		}
	}
}

// contiguous returns v as a dense tensor whose Data() is its values in row-major order,
// copying a strided view (the result of a Slice or Transpose) when it has to.
func contiguous(v gorgonia.Value) (*tensor.Dense, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("value %T is not a dense tensor", v)
	}
	if d.RequiresIterator() || d.IsView() {
		return d.Materialize().(*tensor.Dense), nil
	}
	return d, nil
}
