package nodes

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/nodes/gemm"
)

// This file holds what unroll's custom Gorgonia operations share. Every op here is a value
// type whose fields are all of its attributes; WriteHash writes every one of them, because
// Gorgonia merges two nodes whose ops hash alike and whose children are the same (that is how
// its own Conv2d loses dilation). Every op returns a freshly allocated value, never changes its
// inputs, and handles float32 and float64. A forward op's SymDiff builds its backward from
// other custom ops (a backward op computes one gradient with a hand-written loop); backward ops
// have no second derivative.

// float is the element type of the values custom ops compute on.
type float interface{ float32 | float64 }

// pure gives an op the methods every unroll op shares: it returns a fresh value, calls no
// external code and overwrites none of its inputs.
type pure struct{}

func (pure) ReturnsPtr() bool     { return false }
func (pure) CallsExtern() bool    { return false }
func (pure) OverwritesInput() int { return -1 }

// backwardOnly marks a backward op: it is not differentiated again.
type backwardOnly struct{}

func (backwardOnly) DiffWRT(n int) []bool { return make([]bool, n) }

func (backwardOnly) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("second derivatives are not implemented")
}

// hashOf is the FNV-1a hash of what op writes with WriteHash.
func hashOf(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// tensorOf is Gorgonia's type of a dims-dimensional tensor whose elements have the type
// variable a (the same variable in every call, so an op's inputs and output share one dtype).
func tensorOf(dims int) hm.Type {
	return gorgonia.TensorType{Dims: dims, Of: hm.TypeVariable('a')}
}

// scalarType is Gorgonia's type of a scalar of the same element type.
func scalarType() hm.Type { return hm.TypeVariable('a') }

// shapeOf reads the shape of input i in an InferShape call.
func shapeOf(op fmt.Stringer, in []gorgonia.DimSizer, i int) (tensor.Shape, error) {
	if i >= len(in) {
		return nil, fmt.Errorf("%v: expected at least %d inputs, got %d", op, i+1, len(in))
	}
	s, ok := in[i].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("%v: input %d has no known shape", op, i)
	}
	return s, nil
}

// denseInputs checks that an op got n dense float tensors of one dtype and returns them,
// contiguous, with that dtype.
func denseInputs(op fmt.Stringer, in []gorgonia.Value, n int) ([]*tensor.Dense, tensor.Dtype, error) {
	if len(in) != n {
		return nil, tensor.Dtype{}, fmt.Errorf("%v: expected %d inputs, got %d", op, n, len(in))
	}
	out := make([]*tensor.Dense, n)
	var dt tensor.Dtype
	for i, v := range in {
		t, ok := v.(*tensor.Dense)
		if !ok {
			return nil, dt, fmt.Errorf("%v: input %d is %T, want a dense tensor", op, i, v)
		}
		if t.IsMaterializable() {
			t = t.Materialize().(*tensor.Dense)
		}
		switch {
		case t.Dtype() != tensor.Float32 && t.Dtype() != tensor.Float64:
			return nil, dt, fmt.Errorf("%v: input %d has dtype %v, want float32 or float64", op, i, t.Dtype())
		case i == 0:
			dt = t.Dtype()
		case t.Dtype() != dt:
			return nil, dt, fmt.Errorf("%v: input %d is %v, input 0 is %v", op, i, t.Dtype(), dt)
		}
		out[i] = t
	}
	return out, dt, nil
}

// scalarOf reads a one-element value (Gorgonia passes a scalar loss's gradient as a Scalar or
// as a tensor of shape ()).
func scalarOf(op fmt.Stringer, v gorgonia.Value) (float64, error) {
	var d any
	switch x := v.(type) {
	case *tensor.Dense:
		if x.Shape().TotalSize() != 1 {
			return 0, fmt.Errorf("%v: expected a scalar gradient, got shape %v", op, x.Shape())
		}
		d = x.Data()
	case interface{ Data() any }:
		d = x.Data()
	default:
		return 0, fmt.Errorf("%v: expected a scalar, got %T", op, v)
	}
	switch s := d.(type) {
	case float64:
		return s, nil
	case float32:
		return float64(s), nil
	case []float64:
		return s[0], nil
	case []float32:
		return float64(s[0]), nil
	}
	return 0, fmt.Errorf("%v: expected a float scalar, got %T", op, d)
}

// scalarValue wraps v as a Gorgonia scalar of dtype dt.
func scalarValue(dt tensor.Dtype, v float64) gorgonia.Value {
	if dt == tensor.Float32 {
		return gorgonia.NewF32(float32(v))
	}
	return gorgonia.NewF64(v)
}

// data is a dense tensor's backing slice.
func data[T float](t *tensor.Dense) []T { return t.Data().([]T) }

// newDense allocates a zeroed tensor of element type T.
func newDense[T float](shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]T, n)))
}

// matmul computes C = op(A) op(B) + beta C with row-major BLAS semantics (see package gemm).
func matmul[T float](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	switch a := any(a).(type) {
	case []float32:
		gemm.Sgemm(transA, transB, m, n, k, 1, a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		gemm.Dgemm(transA, transB, m, n, k, 1, a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

// applyOp adds op to the graph over children and names its node.
func applyOp(op gorgonia.Op, name string, children ...*gorgonia.Node) (*gorgonia.Node, error) {
	n, err := gorgonia.ApplyOp(op, children...)
	if err != nil {
		return nil, err
	}
	if name != "" {
		gorgonia.WithName(name)(n)
	}
	return n, nil
}

// gradName names a backward node after the forward node it differentiates.
func gradName(out *gorgonia.Node, what string) string {
	if out.Name() == "" {
		return ""
	}
	return "d" + what + "(" + out.Name() + ")"
}

// channelSumOp sums a tensor (N, C, ...) over every axis but the channel axis 1, giving (C):
// the gradient of a per-channel bias.
type channelSumOp struct {
	pure
	backwardOnly
	rank int // of the input
}

func (op channelSumOp) Arity() int    { return 1 }
func (op channelSumOp) Type() hm.Type { return hm.NewFnType(tensorOf(op.rank), tensorOf(1)) }
func (op channelSumOp) String() string {
	return fmt.Sprintf("channelsum(rank %d)", op.rank)
}
func (op channelSumOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "unroll.channelsum rank=%d", op.rank) }
func (op channelSumOp) Hashcode() uint32      { return hashOf(op) }

func (op channelSumOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	if len(s) != op.rank || op.rank < 2 {
		return nil, fmt.Errorf("%v: input has shape %v", op, s)
	}
	return tensor.Shape{s[1]}, nil
}

func (op channelSumOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 1)
	if err != nil {
		return nil, err
	}
	s := ts[0].Shape()
	if len(s) != op.rank {
		return nil, fmt.Errorf("%v: input has shape %v", op, s)
	}
	n, c := s[0], s[1]
	inner := s.TotalSize() / (n * c)
	if dt == tensor.Float32 {
		return channelSum[float32](data[float32](ts[0]), n, c, inner), nil
	}
	return channelSum[float64](data[float64](ts[0]), n, c, inner), nil
}

func channelSum[T float](x []T, n, c, inner int) *tensor.Dense {
	out := newDense[T](c)
	o := data[T](out)
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			var s T
			for _, v := range x[(i*c+ch)*inner : (i*c+ch+1)*inner] {
				s += v
			}
			o[ch] += s
		}
	}
	return out
}

// applyChannelSum sums g over every axis but 1.
func applyChannelSum(g *gorgonia.Node, name string) (*gorgonia.Node, error) {
	return applyOp(channelSumOp{rank: g.Dims()}, name, g)
}

// isFinite reports whether v is neither NaN nor infinite.
func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
