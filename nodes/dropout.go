package nodes

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
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
	y, err := ops.Mul(x, mask, name) // same shape as x
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	return y, nil
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
