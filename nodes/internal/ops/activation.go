package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/internal/compute"
)

// ActKind names an elementwise activation.
type ActKind int

// The activations.
const (
	ReLU ActKind = iota
	LeakyReLU
	Tanh
	Sigmoid
)

func (k ActKind) String() string {
	return [...]string{"relu", "leakyrelu", "tanh", "sigmoid"}[k]
}

// activationOp applies one elementwise activation to a tensor of rank rank.
type activationOp struct {
	base
	unary
	kind  ActKind
	slope float64
}

func (op activationOp) String() string {
	if op.kind == LeakyReLU {
		return fmt.Sprintf("leakyrelu(%v)", op.slope)
	}
	return op.kind.String()
}
func (op activationOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.act %v slope=%v rank=%d", op.kind, op.slope, op.rank)
}
func (op activationOp) Hashcode() uint32 { return hashOf(op) }

func (op activationOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return sameShape(op, in)
}

func (op activationOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto applies the activation into out (a new tensor when out is nil).
func (op activationOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	return mapInto(op, out, in,
		func(x, y []float32, _ tensor.Shape) { activationForward(op, x, y) },
		func(x, y []float64, _ tensor.Shape) { activationForward(op, x, y) })
}

// activationForward computes y = f(x), its elements shared among the threads.
func activationForward[T Float](op activationOp, x, y []T) {
	work := len(x)
	if op.kind == Tanh || op.kind == Sigmoid {
		work *= 16 // an exponential costs about as much as 16 copies
	}
	compute.For((len(x)+15)/16, work, func(lo, hi int) {
		lo, hi = lo*16, min(hi*16, len(x))
		activationPart(op, x[lo:hi], y[lo:hi])
	})
}

func activationPart[T Float](op activationOp, x, y []T) {
	y = y[:len(x)]
	switch op.kind {
	case ReLU:
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
	case LeakyReLU:
		s := T(op.slope)
		for i, v := range x {
			if v > 0 {
				y[i] = v
			} else {
				y[i] = s * v
			}
		}
	case Tanh:
		for i, v := range x {
			y[i] = T(math.Tanh(float64(v)))
		}
	case Sigmoid:
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
	if err := checkArity(op, in, 1); err != nil {
		return nil, err
	}
	return applyGrads(out, gradOf{activationGradOp{fwd: op}, "x", gorgonia.Nodes{in[0], out, grad}})
}

// activationGradOp is the gradient of an activation: inputs x, y = f(x) and dy; output
// dx = f'(x) ⊙ dy, written with x (ReLU, LeakyReLU) or y (tanh, sigmoid).
type activationGradOp = derivative[activationOp]

func (op activationOp) gradTag() string { return "unroll.act.dx" }
func (op activationOp) gradArity() int  { return 3 }
func (op activationOp) gradType() hm.Type {
	t := tensorOf(op.rank)
	return hm.NewFnType(t, t, t, t)
}

func (op activationOp) gradInto(grad fmt.Stringer, out *tensor.Dense, in []gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sameInto(grad, out, in, 3)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		activationBackward(op, data[float32](ts[0]), data[float32](ts[1]), data[float32](ts[2]), data[float32](out))
	} else {
		activationBackward(op, data[float64](ts[0]), data[float64](ts[1]), data[float64](ts[2]), data[float64](out))
	}
	return out, nil
}

// activationBackward computes dx = f'(x) ⊙ dy, its elements shared among the threads.
func activationBackward[T Float](op activationOp, x, y, dy, dx []T) {
	compute.For((len(x)+15)/16, len(x), func(lo, hi int) {
		lo, hi = lo*16, min(hi*16, len(x))
		activationGradPart(op, x[lo:hi], y[lo:hi], dy[lo:hi], dx[lo:hi])
	})
}

func activationGradPart[T Float](op activationOp, x, y, dy, dx []T) {
	dy, dx = dy[:len(x)], dx[:len(x)]
	switch op.kind {
	case ReLU:
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
	case LeakyReLU:
		s := T(op.slope)
		for i, v := range x {
			if v > 0 {
				dx[i] = dy[i]
			} else {
				dx[i] = s * dy[i]
			}
		}
	case Tanh:
		y = y[:len(x)]
		for i, v := range y {
			dx[i] = dy[i] * (1 - v*v)
		}
	case Sigmoid:
		y = y[:len(x)]
		for i, v := range y {
			dx[i] = dy[i] * v * (1 - v)
		}
	}
}

// Activation adds y = f(x) elementwise for the activation kind (slope is LeakyReLU's) to x's
// graph, naming the node name.
func Activation(x *gorgonia.Node, kind ActKind, slope float64, name string) (*gorgonia.Node, error) {
	return Apply(activationOp{kind: kind, slope: slope, unary: unary{x.Dims()}}, name, x)
}
