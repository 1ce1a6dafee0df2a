package ops

import (
	"fmt"
	"hash"
	"hash/fnv"
	"slices"
	"unsafe"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/nodes/gemm"
)

// Float is the element type of the values the ops compute on.
type Float = compute.Float

// base gives an op the methods every op of this package shares: its Do returns a fresh value,
// it calls no external code and overwrites none of its inputs.
type base struct{}

func (base) ReturnsPtr() bool     { return false }
func (base) CallsExtern() bool    { return false }
func (base) OverwritesInput() int { return -1 }

// backward marks a backward op: it is not differentiated again.
type backward struct{}

func (backward) DiffWRT(n int) []bool { return make([]bool, n) }

func (backward) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("second derivatives are not implemented")
}

// derivative is the backward op of a forward op whose gradient has the shape of the backward
// op's first input (an elementwise map, softmax, a loss): its name, hash, shape and Do are
// the same for all of them, what it computes is the forward op's (gradRule).
type derivative[F gradRule] struct {
	base
	backward
	fwd F
}

// gradRule is what a forward op tells derivative about its gradient.
type gradRule interface {
	fmt.Stringer
	WriteHash(hash.Hash)
	// gradTag starts the hash of the backward op, before the forward op's own.
	gradTag() string
	// gradArity and gradType are the backward op's number of inputs and type.
	gradArity() int
	gradType() hm.Type
	// gradInto computes the gradient from the backward op's inputs into out (a new tensor
	// when out is nil); op names the backward op in errors.
	gradInto(op fmt.Stringer, out *tensor.Dense, in []gorgonia.Value) (gorgonia.Value, error)
}

func (op derivative[F]) Arity() int    { return op.fwd.gradArity() }
func (op derivative[F]) Type() hm.Type { return op.fwd.gradType() }

// String is "d(f)" for the forward op f, unless f names its gradient itself (gradName).
func (op derivative[F]) String() string {
	if n, ok := any(op.fwd).(interface{ gradName() string }); ok {
		return n.gradName()
	}
	return fmt.Sprintf("d(%v)", op.fwd)
}

func (op derivative[F]) WriteHash(h hash.Hash) {
	fmt.Fprint(h, op.fwd.gradTag(), " ")
	op.fwd.WriteHash(h)
}
func (op derivative[F]) Hashcode() uint32 { return hashOf(op) }

func (op derivative[F]) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return sameShape(op, in)
}

func (op derivative[F]) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the gradient into out (a new tensor when out is nil).
func (op derivative[F]) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.fwd.gradInto(op, out, in)
}

// allTrue is a DiffWRT for an op differentiable in all of its n inputs.
func allTrue(n int) []bool {
	w := make([]bool, n)
	for i := range w {
		w[i] = true
	}
	return w
}

// hashOf is the FNV-1a hash of what op writes with WriteHash: every op's Hashcode.
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

// fnType is the type of an op taking tensors of the given ranks and returning one of rank out.
func fnType(out int, in ...int) hm.Type {
	ts := make([]hm.Type, 0, len(in)+1)
	for _, r := range in {
		ts = append(ts, tensorOf(r))
	}
	return hm.NewFnType(append(ts, tensorOf(out))...)
}

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

// shapesOf returns the shapes of the first n inputs of an InferShape call.
func shapesOf(op fmt.Stringer, in []gorgonia.DimSizer, n int) ([]tensor.Shape, error) {
	out := make([]tensor.Shape, n)
	for i := range out {
		s, err := shapeOf(op, in, i)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// checkShapes checks, in an InferShape call, that the inputs have exactly the shapes want.
func checkShapes(op fmt.Stringer, want []tensor.Shape, got []gorgonia.DimSizer) error {
	if len(got) != len(want) {
		return fmt.Errorf("%v: %d inputs, want %d", op, len(got), len(want))
	}
	for i, w := range want {
		s, ok := got[i].(tensor.Shape)
		if !ok || !s.Eq(w) {
			return fmt.Errorf("%v: input %d has shape %v, want %v", op, i, got[i], w)
		}
	}
	return nil
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

// equalInputs is denseInputs for an op whose n inputs all have one shape.
func equalInputs(op fmt.Stringer, in []gorgonia.Value, n int) ([]*tensor.Dense, tensor.Dtype, error) {
	ts, dt, err := denseInputs(op, in, n)
	if err != nil {
		return nil, dt, err
	}
	for _, t := range ts[1:] {
		if !t.Shape().Eq(ts[0].Shape()) {
			return nil, dt, fmt.Errorf("%v: shapes %v and %v differ", op, ts[0].Shape(), t.Shape())
		}
	}
	return ts, dt, nil
}

// equalShapes checks, in an InferShape call, that the first two inputs have one shape, and
// returns it.
func equalShapes(op fmt.Stringer, in []gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapesOf(op, in, 2)
	if err != nil {
		return nil, err
	}
	a, b := s[0], s[1]
	if !a.Eq(b) {
		return nil, fmt.Errorf("%v: shapes %v and %v differ", op, a, b)
	}
	return a, nil
}

// sizedInputs is denseInputs for an op whose inputs must hold the elements of the shapes want
// (the shapes are not compared, only the sizes: Gorgonia may hand over a vector as (n, 1)).
func sizedInputs(op fmt.Stringer, in []gorgonia.Value, want []tensor.Shape) ([]*tensor.Dense, tensor.Dtype, error) {
	ts, dt, err := denseInputs(op, in, len(want))
	if err != nil {
		return nil, dt, err
	}
	for i, w := range want {
		if ts[i].Shape().TotalSize() != w.TotalSize() {
			return nil, dt, fmt.Errorf("%v: input %d has shape %v, want %v", op, i, ts[i].Shape(), w)
		}
	}
	return ts, dt, nil
}

// sameInto is the start of the DoInto of an op whose n inputs and output have one shape: the
// inputs checked by equalInputs, and the output buffer from outputFor.
func sameInto(op fmt.Stringer, out *tensor.Dense, in []gorgonia.Value, n int) ([]*tensor.Dense, *tensor.Dense, tensor.Dtype, error) {
	ts, dt, err := equalInputs(op, in, n)
	if err != nil {
		return nil, nil, dt, err
	}
	if out, err = outputFor(op, out, dt, ts[0].Shape()); err != nil {
		return nil, nil, dt, err
	}
	return ts, out, dt, nil
}

// mapInto is the DoInto of an op from one tensor to one of the same shape: the input checked by
// sameInto, then f32 or f64, as its dtype asks, from its backing slice into out's, given its
// shape.
func mapInto(op fmt.Stringer, out *tensor.Dense, in []gorgonia.Value,
	f32 func(x, y []float32, s tensor.Shape), f64 func(x, y []float64, s tensor.Shape)) (gorgonia.Value, error) {
	ts, out, dt, err := sameInto(op, out, in, 1)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		f32(data[float32](ts[0]), data[float32](out), ts[0].Shape())
	} else {
		f64(data[float64](ts[0]), data[float64](out), ts[0].Shape())
	}
	return out, nil
}

// sizedInto is the start of most DoInto methods: the inputs checked by sizedInputs, and the
// output buffer of the given shape from outputFor.
func sizedInto(op fmt.Stringer, out *tensor.Dense, in []gorgonia.Value, want []tensor.Shape,
	shape []int) ([]*tensor.Dense, *tensor.Dense, tensor.Dtype, error) {
	ts, dt, err := sizedInputs(op, in, want)
	if err != nil {
		return nil, nil, dt, err
	}
	if out, err = outputFor(op, out, dt, shape); err != nil {
		return nil, nil, dt, err
	}
	return ts, out, dt, nil
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
	if out.Dtype() != dt || out.Shape().TotalSize() != tensor.Shape(shape).TotalSize() || out.IsMaterializable() {
		return nil, fmt.Errorf("%v: output buffer is %v %v, want %v %v", op, out.Dtype(), out.Shape(), dt, tensor.Shape(shape))
	}
	return out, nil
}

// slicesOf returns the backing slices of ts, all of element type T.
func slicesOf[T Float](ts []*tensor.Dense) [][]T {
	out := make([][]T, len(ts))
	for i, t := range ts {
		out[i] = data[T](t)
	}
	return out
}

// compute runs the float32 or float64 kernel, as dt asks, on out's backing slice and the
// inputs' backing slices, and returns out.
func computeInto(dt tensor.Dtype, out *tensor.Dense, ts []*tensor.Dense,
	f32 func(out []float32, in [][]float32) error, f64 func(out []float64, in [][]float64) error) (gorgonia.Value, error) {
	var err error
	if dt == tensor.Float32 {
		err = f32(data[float32](out), slicesOf[float32](ts))
	} else {
		err = f64(data[float64](out), slicesOf[float64](ts))
	}
	if err != nil {
		return nil, err
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
func data[T Float](t *tensor.Dense) []T {
	switch any(T(0)).(type) {
	case float32:
		return any(t.Float32s()).([]T) // without the reflection Data uses
	default:
		return any(t.Float64s()).([]T)
	}
}

// is32 reports whether T is float32.
func is32[T Float]() bool {
	_, ok := any(T(0)).(float32)
	return ok
}

// f32s is s as a []float32, for T = float32 only (is32).
func f32s[T Float](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// newDense allocates a zeroed tensor of element type T.
func newDense[T Float](shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return tensor.New(tensor.WithShape(slices.Clone(shape)...), tensor.WithBacking(make([]T, n)))
}

// matmul computes C = op(A) op(B) + beta C with row-major BLAS semantics (see package gemm).
func matmul[T Float](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	switch a := any(a).(type) {
	case []float32:
		gemm.Sgemm(transA, transB, m, n, k, 1, a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		gemm.Dgemm(transA, transB, m, n, k, 1, a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

// Apply adds op to the graph over children and names its node (when name is not empty).
func Apply(op gorgonia.Op, name string, children ...*gorgonia.Node) (*gorgonia.Node, error) {
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

// childrenOf lists the inputs of n's op, in order.
func childrenOf(n *gorgonia.Node) []*gorgonia.Node {
	var out []*gorgonia.Node
	it := n.Graph().From(n.ID())
	for it != nil && it.Next() {
		out = append(out, it.Node().(*gorgonia.Node))
	}
	return out
}

// parentsOf lists the nodes that take n as an input.
func parentsOf(n *gorgonia.Node) []*gorgonia.Node {
	var out []*gorgonia.Node
	it := n.Graph().To(n.ID())
	for it != nil && it.Next() {
		out = append(out, it.Node().(*gorgonia.Node))
	}
	return out
}

// sum8 is the sum of v in eight interleaved partial sums, added as ((s0+s1)+(s2+s3)) +
// ((s4+s5)+(s6+s7)), then the tail of fewer than eight elements in order: a fixed pattern, so
// a sum does not depend on the number of threads.
func sum8[T Float](v []T) T {
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

// sameShape is the InferShape of an op whose output has the shape of its first input.
func sameShape(op fmt.Stringer, in []gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

// gradOf is one gradient a SymDiff adds: op applied to args, named after the input wrt.
type gradOf struct {
	op   gorgonia.Op
	wrt  string
	args gorgonia.Nodes
}

// applyGrads adds the gradients gs of out's op to the graph, in order (a nil op leaves its
// input without a gradient).
func applyGrads(out *gorgonia.Node, gs ...gradOf) (gorgonia.Nodes, error) {
	res := make(gorgonia.Nodes, len(gs))
	for i, g := range gs {
		if g.op == nil {
			continue
		}
		n, err := Apply(g.op, gradName(out, g.wrt), g.args...)
		if err != nil {
			return nil, err
		}
		res[i] = n
	}
	return res, nil
}

// checkArity is a SymDiff's check that it got the n inputs of its op.
func checkArity(op fmt.Stringer, in gorgonia.Nodes, n int) error {
	if len(in) != n {
		return fmt.Errorf("%v: expected %d inputs, got %d", op, n, len(in))
	}
	return nil
}

// unary gives an op from one tensor of rank rank to one of the same rank its Arity and Type.
type unary struct{ rank int }

func (unary) Arity() int { return 1 }
func (u unary) Type() hm.Type {
	t := tensorOf(u.rank)
	return hm.NewFnType(t, t)
}
