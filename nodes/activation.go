package nodes

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
)

// Func is a layer without parameters written as a function of one node. It implements Layer,
// so the activations below are both functions, called as nodes.ReLU(b, x), and layer values
// that a model written as a list of layers can hold:
//
//	model := []nodes.Layer{conv1, nodes.ReLU, pool1, nodes.Flatten, fc1, nodes.LeakyReLU(0.01), fc2}
type Func func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error)

// Forward calls f.
func (f Func) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) { return f(b, x) }

var (
	// ReLU is max(0, x) elementwise; its derivative is 1 where x > 0 and 0 elsewhere (0 at 0,
	// as in PyTorch).
	ReLU Func = func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
		return activate(b, x, actReLU, 0)
	}
	// Tanh is tanh(x) elementwise; its derivative is 1 - tanh(x)².
	Tanh Func = func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
		return activate(b, x, actTanh, 0)
	}
	// Sigmoid is σ(x) = 1/(1 + e^(-x)) elementwise, computed without overflow; its derivative
	// is σ(x)(1 - σ(x)).
	Sigmoid Func = func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
		return activate(b, x, actSigmoid, 0)
	}
	// Softmax normalises the last axis into probabilities, softmax(x)_i = e^(x_i - m) /
	// Σ_j e^(x_j - m) with m = max_j x_j (subtracting m changes nothing but avoids overflow).
	// For logits (B, K) it gives (B, K) rows that sum to 1. Its gradient is
	// dx = y ⊙ (dy - Σ_j dy_j y_j).
	Softmax Func = func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
		return softmax(b, x, false)
	}
	// LogSoftmax is log(softmax(x)) over the last axis, computed stably as
	// x_i - m - log Σ_j e^(x_j - m). Its gradient is dx = dy - softmax(x) Σ_j dy_j.
	LogSoftmax Func = func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
		return softmax(b, x, true)
	}
)

// LeakyReLU is x where x > 0 and slope·x elsewhere, elementwise (PyTorch's default slope is
// 0.01); its derivative is 1 or slope.
func LeakyReLU(slope float64) Func {
	return func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
		return activate(b, x, actLeakyReLU, slope)
	}
}

type actKind int

const (
	actReLU actKind = iota
	actLeakyReLU
	actTanh
	actSigmoid
)

func (k actKind) String() string {
	return [...]string{"relu", "leakyrelu", "tanh", "sigmoid"}[k]
}

func activate(b *graph.Builder, x *gorgonia.Node, kind actKind, slope float64) (*gorgonia.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("%v: nil input", kind)
	}
	if x.Dims() < 1 {
		return nil, fmt.Errorf("%v: input must be a tensor, has shape %v", kind, x.Shape())
	}
	if kind == actLeakyReLU && !isFinite(slope) {
		return nil, fmt.Errorf("%v: slope must be finite, got %v", kind, slope)
	}
	y, err := applyOp(activationOp{kind: kind, slope: slope, rank: x.Dims()}, b.Name(kind.String()), x)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", kind, err)
	}
	return y, nil
}

// activationOp applies one elementwise activation to a tensor of rank rank.
type activationOp struct {
	pure
	kind  actKind
	slope float64
	rank  int
}

func (op activationOp) Arity() int { return 1 }
func (op activationOp) Type() hm.Type {
	t := tensorOf(op.rank)
	return hm.NewFnType(t, t)
}
func (op activationOp) String() string {
	if op.kind == actLeakyReLU {
		return fmt.Sprintf("leakyrelu(%v)", op.slope)
	}
	return op.kind.String()
}
func (op activationOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.act %v slope=%v rank=%d", op.kind, op.slope, op.rank)
}
func (op activationOp) Hashcode() uint32 { return hashOf(op) }

func (op activationOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (op activationOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto applies the activation into out (a new tensor when out is nil).
func (op activationOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 1)
	if err != nil {
		return nil, err
	}
	if out, err = outputFor(op, out, dt, ts[0].Shape()); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		activationForward(op, data[float32](ts[0]), data[float32](out))
	} else {
		activationForward(op, data[float64](ts[0]), data[float64](out))
	}
	return out, nil
}

// activationForward computes y = f(x), its elements shared among the threads.
func activationForward[T float](op activationOp, x, y []T) {
	work := len(x)
	if op.kind == actTanh || op.kind == actSigmoid {
		work *= 16 // an exponential costs about as much as 16 copies
	}
	compute.For((len(x)+15)/16, work, func(lo, hi int) {
		lo, hi = lo*16, min(hi*16, len(x))
		activationPart(op, x[lo:hi], y[lo:hi])
	})
}

func activationPart[T float](op activationOp, x, y []T) {
	y = y[:len(x)]
	switch op.kind {
	case actReLU:
		if is32[T]() {
			relu32(f32s(x), f32s(y))
			return
		}
		for i, v := range x {
			if v > 0 {
				y[i] = v
			} else {
				y[i] = 0
			}
		}
	case actLeakyReLU:
		s := T(op.slope)
		for i, v := range x {
			if v > 0 {
				y[i] = v
			} else {
				y[i] = s * v
			}
		}
	case actTanh:
		for i, v := range x {
			y[i] = T(math.Tanh(float64(v)))
		}
	case actSigmoid:
		for i, v := range x {
			y[i] = T(sigmoid(float64(v)))
		}
	}
}

// sigmoid is 1/(1 + e^(-v)) without overflow for large |v|.
func sigmoid(v float64) float64 {
	if v >= 0 {
		return 1 / (1 + math.Exp(-v))
	}
	e := math.Exp(v)
	return e / (1 + e)
}

func (op activationOp) DiffWRT(int) []bool { return []bool{true} }

func (op activationOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("%v: expected 1 input, got %d", op, len(in))
	}
	dx, err := applyOp(activationGradOp{fwd: op}, gradName(out, "x"), in[0], out, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx}, nil
}

// activationGradOp is the gradient of an activation: inputs x, y = f(x) and dy; output
// dx = f'(x) ⊙ dy, written with x (ReLU, LeakyReLU) or y (tanh, sigmoid).
type activationGradOp struct {
	pure
	backwardOnly
	fwd activationOp
}

func (op activationGradOp) Arity() int { return 3 }
func (op activationGradOp) Type() hm.Type {
	t := tensorOf(op.fwd.rank)
	return hm.NewFnType(t, t, t, t)
}
func (op activationGradOp) String() string { return fmt.Sprintf("d(%v)", op.fwd) }
func (op activationGradOp) WriteHash(h hash.Hash) {
	fmt.Fprint(h, "unroll.act.dx ")
	op.fwd.WriteHash(h)
}
func (op activationGradOp) Hashcode() uint32 { return hashOf(op) }

func (op activationGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (op activationGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes dx into out (a new tensor when out is nil).
func (op activationGradOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 3)
	if err != nil {
		return nil, err
	}
	s := ts[0].Shape()
	if !s.Eq(ts[1].Shape()) || !s.Eq(ts[2].Shape()) {
		return nil, fmt.Errorf("%v: shapes %v, %v and %v differ", op, s, ts[1].Shape(), ts[2].Shape())
	}
	if out, err = outputFor(op, out, dt, s); err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		activationBackward(op.fwd, data[float32](ts[0]), data[float32](ts[1]), data[float32](ts[2]), data[float32](out))
	} else {
		activationBackward(op.fwd, data[float64](ts[0]), data[float64](ts[1]), data[float64](ts[2]), data[float64](out))
	}
	return out, nil
}

// activationBackward computes dx = f'(x) ⊙ dy, its elements shared among the threads.
func activationBackward[T float](op activationOp, x, y, dy, dx []T) {
	compute.For((len(x)+15)/16, len(x), func(lo, hi int) {
		lo, hi = lo*16, min(hi*16, len(x))
		activationGradPart(op, x[lo:hi], y[lo:hi], dy[lo:hi], dx[lo:hi])
	})
}

func activationGradPart[T float](op activationOp, x, y, dy, dx []T) {
	dy, dx = dy[:len(x)], dx[:len(x)]
	switch op.kind {
	case actReLU:
		if is32[T]() {
			reluGrad32(f32s(x), f32s(dy), f32s(dx))
			return
		}
		for i, v := range x {
			if v > 0 {
				dx[i] = dy[i]
			} else {
				dx[i] = 0
			}
		}
	case actLeakyReLU:
		s := T(op.slope)
		for i, v := range x {
			if v > 0 {
				dx[i] = dy[i]
			} else {
				dx[i] = s * dy[i]
			}
		}
	case actTanh:
		y = y[:len(x)]
		for i, v := range y {
			dx[i] = dy[i] * (1 - v*v)
		}
	case actSigmoid:
		y = y[:len(x)]
		for i, v := range y {
			dx[i] = dy[i] * v * (1 - v)
		}
	}
}

// relu32 sets y = x where x > 0 and 0 elsewhere (NaN included) without a branch (see
// reluGrad32).
func relu32(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		u := math.Float32bits(v)
		m := uint32((int64(u-1) - 0x7f800000) >> 63)
		y[i] = math.Float32frombits(u & m)
	}
}

// reluGrad32 sets dx = dy where x > 0 and 0 elsewhere (NaN included) without a branch: x > 0
// exactly when the bits u of x satisfy 1 <= u <= bits(+Inf), and the mask is all ones then.
func reluGrad32(x, dy, dx []float32) {
	dy, dx = dy[:len(x)], dx[:len(x)]
	for i, v := range x {
		u := math.Float32bits(v)
		m := uint32((int64(u-1) - 0x7f800000) >> 63)
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & m)
	}
}

func softmax(b *graph.Builder, x *gorgonia.Node, log bool) (*gorgonia.Node, error) {
	op := softmaxOp{log: log}
	if x == nil {
		return nil, fmt.Errorf("%v: nil input", op)
	}
	op.rank = x.Dims()
	if x.Dims() < 1 {
		return nil, fmt.Errorf("%v: input must be a tensor, has shape %v", op, x.Shape())
	}
	y, err := applyOp(op, b.Name(op.String()), x)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return y, nil
}

// softmaxOp is softmax, or log-softmax, over the last axis.
type softmaxOp struct {
	pure
	log  bool
	rank int
}

func (op softmaxOp) Arity() int { return 1 }
func (op softmaxOp) Type() hm.Type {
	t := tensorOf(op.rank)
	return hm.NewFnType(t, t)
}
func (op softmaxOp) String() string {
	if op.log {
		return "logsoftmax"
	}
	return "softmax"
}
func (op softmaxOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.softmax log=%v rank=%d", op.log, op.rank)
}
func (op softmaxOp) Hashcode() uint32 { return hashOf(op) }

func (op softmaxOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (op softmaxOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the softmax into out (a new tensor when out is nil).
func (op softmaxOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 1)
	if err != nil {
		return nil, err
	}
	s := ts[0].Shape()
	if out, err = outputFor(op, out, dt, s); err != nil {
		return nil, err
	}
	k := s[len(s)-1]
	if dt == tensor.Float32 {
		softmaxParallel(data[float32](ts[0]), data[float32](out), k, op.log)
	} else {
		softmaxParallel(data[float64](ts[0]), data[float64](out), k, op.log)
	}
	return out, nil
}

// softmaxParallel is softmaxRows with the rows shared among the threads.
func softmaxParallel[T float](x, y []T, k int, log bool) {
	compute.For(len(x)/k, 16*len(x), func(lo, hi int) {
		softmaxRows(x[lo*k:hi*k], y[lo*k:hi*k], k, log)
	})
}

// softmaxRows computes softmax (or log-softmax) of each row of k values of x into y, with the
// sums in float64.
func softmaxRows[T float](x, y []T, k int, log bool) {
	for r := 0; r+k <= len(x); r += k {
		row, out := x[r:r+k], y[r:r+k]
		m := row[0]
		for _, v := range row {
			if v > m {
				m = v
			}
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v - m))
		}
		if log {
			lse := float64(m) + math.Log(s)
			for i, v := range row {
				out[i] = T(float64(v) - lse)
			}
			continue
		}
		for i, v := range row {
			out[i] = T(math.Exp(float64(v-m)) / s)
		}
	}
}

func (op softmaxOp) DiffWRT(int) []bool { return []bool{true} }

func (op softmaxOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("%v: expected 1 input, got %d", op, len(in))
	}
	dx, err := applyOp(softmaxGradOp{fwd: op}, gradName(out, "x"), out, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx}, nil
}

// softmaxGradOp is the gradient of softmaxOp: inputs y (the op's output) and dy, output dx.
type softmaxGradOp struct {
	pure
	backwardOnly
	fwd softmaxOp
}

func (op softmaxGradOp) Arity() int { return 2 }
func (op softmaxGradOp) Type() hm.Type {
	t := tensorOf(op.fwd.rank)
	return hm.NewFnType(t, t, t)
}
func (op softmaxGradOp) String() string { return fmt.Sprintf("d(%v)", op.fwd) }
func (op softmaxGradOp) WriteHash(h hash.Hash) {
	fmt.Fprint(h, "unroll.softmax.dx ")
	op.fwd.WriteHash(h)
}
func (op softmaxGradOp) Hashcode() uint32 { return hashOf(op) }

func (op softmaxGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (op softmaxGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes dx into out (a new tensor when out is nil).
func (op softmaxGradOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 2)
	if err != nil {
		return nil, err
	}
	s := ts[0].Shape()
	if !s.Eq(ts[1].Shape()) {
		return nil, fmt.Errorf("%v: shapes %v and %v differ", op, s, ts[1].Shape())
	}
	if out, err = outputFor(op, out, dt, s); err != nil {
		return nil, err
	}
	k := s[len(s)-1]
	if dt == tensor.Float32 {
		softmaxBackwardParallel(data[float32](ts[0]), data[float32](ts[1]), data[float32](out), k, op.fwd.log)
	} else {
		softmaxBackwardParallel(data[float64](ts[0]), data[float64](ts[1]), data[float64](out), k, op.fwd.log)
	}
	return out, nil
}

// softmaxBackwardParallel is softmaxBackward with the rows shared among the threads.
func softmaxBackwardParallel[T float](y, dy, dx []T, k int, log bool) {
	work := 2 * len(y)
	if log {
		work *= 8
	}
	compute.For(len(y)/k, work, func(lo, hi int) {
		softmaxBackward(y[lo*k:hi*k], dy[lo*k:hi*k], dx[lo*k:hi*k], k, log)
	})
}

func softmaxBackward[T float](y, dy, dx []T, k int, log bool) {
	for r := 0; r+k <= len(y); r += k {
		yr, gr, out := y[r:r+k], dy[r:r+k], dx[r:r+k]
		var s float64
		if log {
			for _, g := range gr {
				s += float64(g)
			}
			for i, v := range yr {
				out[i] = T(float64(gr[i]) - math.Exp(float64(v))*s)
			}
			continue
		}
		for i, v := range yr {
			s += float64(gr[i]) * float64(v)
		}
		for i, v := range yr {
			out[i] = T(float64(v) * (float64(gr[i]) - s))
		}
	}
}
