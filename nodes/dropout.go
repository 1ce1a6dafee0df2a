package nodes

import (
	"fmt"
	"hash"
	"math/rand/v2"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
)

// Dropout is inverted dropout: during training each element of the input is zeroed with
// probability P and the survivors are scaled by 1/(1-P), so that the expected value of every
// element is unchanged:
//
//	y = x ⊙ m,   m_i = 1/(1-P) with probability 1-P, and 0 with probability P.
//
// The mask m is a noise input of the graph (graph.Builder.Noise) named "<name>.mask" (then
// "<name>#2.mask", ... when the layer is applied again, as between the stacked layers of an
// unrolled recurrent network at every step). The program draws it from the model's seeded
// random source before every run, so the same seed gives the same masks, and a gradient check
// holds it fixed. In graph.Eval mode, and when P is 0, Dropout is the identity and adds no
// node.
type Dropout struct {
	name string
	p    float64
}

// NewDropout returns a dropout layer that drops with probability p, in [0, 1).
func NewDropout(name string, p float64) (*Dropout, error) {
	if !(p >= 0 && p < 1) { // also refuses NaN
		return nil, fmt.Errorf("%s: dropout probability must be in [0, 1), got %v", name, p)
	}
	return &Dropout{name: name, p: p}, nil
}

// Name is the layer's name, the prefix of its mask inputs.
func (d *Dropout) Name() string { return d.name }

// P is the probability of dropping an element.
func (d *Dropout) P() float64 { return d.p }

// Forward maps x (any shape) to x ⊙ m in training, and to x itself in evaluation.
func (d *Dropout) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("%s: nil input", d.name)
	}
	if !b.Training() || d.p == 0 {
		return x, nil
	}
	name := b.Name(d.name)
	mask, err := b.Noise(name+".mask", x.Shape().Clone(), dropoutMask(d.p))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	y, err := applyOp(dropMulOp{rank: x.Dims()}, name, x, mask) // same shape as x
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	return y, nil
}

// dropMulOp is the elementwise product y = x ⊙ m of two tensors of one shape (dropout's mask);
// its gradients are dx = dy ⊙ m and dm = dy ⊙ x, products of the same kind.
type dropMulOp struct {
	pure
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
	a, err := shapeOf(op, in, 0)
	if err != nil {
		return nil, err
	}
	b, err := shapeOf(op, in, 1)
	if err != nil {
		return nil, err
	}
	if !a.Eq(b) {
		return nil, fmt.Errorf("%v: shapes %v and %v differ", op, a, b)
	}
	return a.Clone(), nil
}

func (op dropMulOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, in...)
}

// DoInto computes the product into out (a new tensor when out is nil).
func (op dropMulOp) DoInto(out *tensor.Dense, in ...gorgonia.Value) (gorgonia.Value, error) {
	ts, dt, err := denseInputs(op, in, 2)
	if err != nil {
		return nil, err
	}
	if !ts[0].Shape().Eq(ts[1].Shape()) {
		return nil, fmt.Errorf("%v: shapes %v and %v differ", op, ts[0].Shape(), ts[1].Shape())
	}
	if out, err = outputFor(op, out, dt, ts[0].Shape()); err != nil {
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
func dropMultiply[T float](x, y, z []T) {
	compute.Elems(len(x), func(lo, hi int) {
		y, z := y[lo:hi], z[lo:hi]
		for i, v := range x[lo:hi] {
			z[i] = v * y[i]
		}
	})
}

func (op dropMulOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("%v: expected 2 inputs, got %d", op, len(in))
	}
	dx, err := applyOp(op, gradName(out, "x"), grad, in[1])
	if err != nil {
		return nil, err
	}
	dm, err := applyOp(op, gradName(out, "mask"), grad, in[0])
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx, dm}, nil
}

// dropoutMask draws 1/(1-p) with probability 1-p and 0 otherwise.
func dropoutMask(p float64) graph.Sampler {
	scale := 1 / (1 - p)
	return func(r *rand.Rand, dst []float64) {
		for i := range dst {
			if r.Float64() >= p {
				dst[i] = scale
			} else {
				dst[i] = 0
			}
		}
	}
}
