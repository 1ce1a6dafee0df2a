package nodes

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// Dense is a fully connected layer (PyTorch's Linear): y = x Wᵀ + b, with x of shape
// (B, in), the weight W of shape (out, in) and the bias b of shape (out).
// Parameters: "<name>.weight" and "<name>.bias", initialised as PyTorch does
// (U(-1/sqrt(in), 1/sqrt(in)) for both) unless an option says otherwise.
type Dense struct {
	name    string
	in, out int
	bias    bool
}

// DenseOption configures NewDense: NoBias, WeightInit and BiasInit.
type DenseOption interface{ applyDense(*denseConfig) }

type denseConfig struct {
	paramConfig
}

// ParamOption configures how a layer makes its parameters: whether it has a bias, and their
// initialisers. Dense, Conv1D and Conv2D take it.
type ParamOption func(*paramConfig)

func (o ParamOption) applyDense(c *denseConfig) {
	if o != nil {
		o(&c.paramConfig)
	}
}

type paramConfig struct {
	bias       bool
	weightInit graph.Init
	biasInit   graph.Init
}

// NoBias leaves the bias out: y = x Wᵀ for Dense, no bias term for a convolution.
func NoBias() ParamOption { return func(c *paramConfig) { c.bias = false } }

// WeightInit replaces the weight's initialiser.
func WeightInit(i graph.Init) ParamOption { return func(c *paramConfig) { c.weightInit = i } }

// BiasInit replaces the bias's initialiser.
func BiasInit(i graph.Init) ParamOption { return func(c *paramConfig) { c.biasInit = i } }

// NewDense creates a Dense layer with in inputs and out outputs in ps.
func NewDense(ps *graph.Params, name string, in, out int, opts ...DenseOption) (*Dense, error) {
	if in < 1 || out < 1 {
		return nil, fmt.Errorf("%s: dense sizes must be positive, got in=%d out=%d", name, in, out)
	}
	cfg := denseConfig{paramConfig{bias: true, weightInit: graph.TorchWeight(), biasInit: graph.TorchBias(in)}}
	for _, o := range opts {
		if o != nil {
			o.applyDense(&cfg)
		}
	}
	if _, err := ps.Add(name+".weight", []int{out, in}, cfg.weightInit); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if cfg.bias {
		if _, err := ps.Add(name+".bias", []int{out}, cfg.biasInit); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return &Dense{name: name, in: in, out: out, bias: cfg.bias}, nil
}

// Name is the layer's name, the prefix of its parameters.
func (d *Dense) Name() string { return d.name }

// Forward maps x of shape (B, in) to (B, out).
func (d *Dense) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("%s: nil input", d.name)
	}
	if x.Dims() != 2 {
		return nil, fmt.Errorf("%s: input must be (batch, %d), has shape %v", d.name, d.in, x.Shape())
	}
	if x.Shape()[1] != d.in {
		return nil, fmt.Errorf("%s: expects %d input features, input has %d", d.name, d.in, x.Shape()[1])
	}
	w, err := b.Param(d.name + ".weight")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	args := []*gorgonia.Node{x, w}
	if d.bias {
		bias, err := b.Param(d.name + ".bias")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.name, err)
		}
		args = append(args, bias)
	}
	y, err := ops.Linear(b.Name(d.name), args...) // (B, out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	return y, nil
}
