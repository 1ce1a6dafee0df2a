package nodes

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"slices"
	"unsafe"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/nodes/gemm"
)

// This file holds what unroll's custom Gorgonia operations share. Every op here is a value
// type whose fields are all of its attributes; WriteHash writes every one of them, because
// Gorgonia merges two nodes whose ops hash alike and whose children are the same (that is how
// its own Conv2d loses dilation); an op that carries state from its forward to its backward
// within a run (the cross-entropy's softmax) writes the identity of that state too. Every op
// never changes its inputs and handles float32 and float64. Do returns a freshly allocated
// value; DoInto (graph.Preallocator) writes the same value into a buffer the executor owns
// and reuses from run to run, so a training step allocates no tensors. Loops over many
// elements run on all threads, over independent outputs, deterministically (parallel.go). A
// forward op's SymDiff builds its backward from other custom ops (a backward op computes one
// gradient with a hand-written loop); backward ops have no second derivative.

// float is the element type of the values custom ops compute on.
type float interface{ float32 | float64 }

// pure gives an op the methods every unroll op shares: its Do returns a fresh value, it calls
// no external code and overwrites none of its inputs.
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

// outputFor returns out, checked to be a tensor of dtype dt and the given shape, or a new
// zeroed tensor when out is nil: the buffer a DoInto writes (see graph.Preallocator).
func outputFor(op fmt.Stringer, out *tensor.Dense, dt tensor.Dtype, shape []int) (*tensor.Dense, error) {
	if out == nil {
		if dt == tensor.Float32 {
			return newDense[float32](shape...), nil
		}
		return newDense[float64](shape...), nil
	}
	if out.Dtype() != dt || !slices.Equal(out.Shape(), shape) || out.IsMaterializable() {
		return nil, fmt.Errorf("%v: output buffer is %v %v, want %v %v", op, out.Dtype(), out.Shape(), dt, tensor.Shape(shape))
	}
	return out, nil
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

// is32 reports whether T is float32.
func is32[T float]() bool {
	var z T
	_, ok := any(z).(float32)
	return ok
}

// f32s is s as a []float32, for T = float32 only (is32).
func f32s[T float](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

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
	return op.DoInto(nil, in...)
}

// DoInto computes the sums into out (a new tensor when out is nil).
func (op channelSumOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
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
	if out, err = outputFor(op, out, dt, []int{c}); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		channelSum(data[float32](ts[0]), data[float32](out), n, c, inner)
	} else {
		channelSum(data[float64](ts[0]), data[float64](out), n, c, inner)
	}
	return out, nil
}

// channelSum sets o[ch] = Σ_i Σ_j x[i, ch, j]. Each channel is summed by one thread, the
// inner sums eight at a time in a fixed pattern (element j into partial sum j mod 8, the
// partial sums added pairwise), so the result does not depend on the number of threads.
func channelSum[T float](x, o []T, n, c, inner int) {
	compute.For(c, len(x), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			var total T
			for i := 0; i < n; i++ {
				total += sum8(x[(i*c+ch)*inner : (i*c+ch+1)*inner])
			}
			o[ch] = total
		}
	})
}

// sum8 is the sum of v in eight interleaved partial sums, added as ((s0+s1)+(s2+s3)) +
// ((s4+s5)+(s6+s7)), then the tail of fewer than eight elements in order.
func sum8[T float](v []T) T {
	var s0, s1, s2, s3, s4, s5, s6, s7 T
	i := 0
	for ; i+8 <= len(v); i += 8 {
		w := v[i : i+8 : i+8]
		s0 += w[0]
		s1 += w[1]
		s2 += w[2]
		s3 += w[3]
		s4 += w[4]
		s5 += w[5]
		s6 += w[6]
		s7 += w[7]
	}
	s := ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
	for _, x := range v[i:] {
		s += x
	}
	return s
}

// applyChannelSum sums g over every axis but 1.
func applyChannelSum(g *gorgonia.Node, name string) (*gorgonia.Node, error) {
	return applyOp(channelSumOp{rank: g.Dims()}, name, g)
}

// isFinite reports whether v is neither NaN nor infinite.
func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
