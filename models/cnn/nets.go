// Package cnn holds convolutional classifiers for images (NCHW) and the code that trains,
// evaluates and inspects them. Start with NewClassifier, which trains any nodes.Model that
// maps images (B, C, H, W) to class scores (B, Classes): a nodes.Sequential written by hand (the
// way to write a custom CNN), or one of the nets built here, NewLeNet5 (LeNet-5 as d2l draws it
// for 28x28 digits) and NewSmallCNN (the small CNN of unroll's W1 benchmark). The classifier
// fits with graph.Fit and its options (graph.Epochs, graph.Batch, graph.Solver, ...), reports
// accuracy, loss and a confusion matrix, predicts data sets and tensors, shows feature maps,
// and saves and loads checkpoints.
package cnn

import (
	"fmt"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// Pooling is the kind of a net's 2x2 pooling layers.
type Pooling int

const (
	MaxPooling Pooling = iota // 2x2 max pooling, stride 2 (the default)
	AvgPooling                // 2x2 average pooling, stride 2 (LeNet-5's of 1998)
)

// String names the kind: "max" or "average".
func (p Pooling) String() string {
	switch p {
	case MaxPooling:
		return "max"
	case AvgPooling:
		return "average"
	}
	return fmt.Sprintf("Pooling(%d)", int(p))
}

// Option configures NewLeNet5 and NewSmallCNN; options apply in order.
type Option func(*netConfig)

type netConfig struct {
	classic bool
	pooling Pooling
	dropout float64
	classes int
	c, h, w int
}

// Classic makes LeNet-5 the 1998 original: sigmoid activations and average pooling instead of
// ReLU and max pooling. NewSmallCNN refuses it.
func Classic() Option {
	return func(c *netConfig) { c.classic, c.pooling = true, AvgPooling }
}

// Pool sets the kind of the 2x2 pooling layers (default MaxPooling; Classic sets AvgPooling).
func Pool(kind Pooling) Option { return func(c *netConfig) { c.pooling = kind } }

// Dropout adds dropout with probability p before each dense layer (0 turns it off).
func Dropout(p float64) Option { return func(c *netConfig) { c.dropout = p } }

// Input sets the input image shape (default 1 x 28 x 28, MNIST's).
func Input(channels, height, width int) Option {
	return func(c *netConfig) { c.c, c.h, c.w = channels, height, width }
}

// Classes sets the number of classes (default 10).
func Classes(k int) Option { return func(c *netConfig) { c.classes = k } }

func config(opts []Option) netConfig {
	cfg := netConfig{classes: 10, c: 1, h: 28, w: 28}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return cfg
}

// check reports settings no net can have; sizes are left to the layers, which name them.
func (c netConfig) check(net string) error {
	switch {
	case !(c.dropout >= 0 && c.dropout < 1):
		return fmt.Errorf("%s: dropout probability must be in [0, 1), got %v", net, c.dropout)
	case c.pooling != MaxPooling && c.pooling != AvgPooling:
		return fmt.Errorf("%s: unknown pooling %v", net, c.pooling)
	}
	return nil
}

// pool returns a 2x2 pooling layer of the configured kind.
func (c netConfig) pool(name string) (nodes.Layer, error) {
	if c.pooling == AvgPooling {
		return nodes.NewAvgPool2D(name, 2)
	}
	return nodes.NewMaxPool2D(name, 2)
}

// dense adds an optional dropout, a Dense layer and an optional activation to s.
func (c netConfig) dense(s *nodes.Sequential, name string, in, out int, act nodes.Layer) {
	if c.dropout > 0 {
		s.Add(nodes.NewDropout(name+".dropout", c.dropout))
	}
	s.Add(nodes.NewDense(s.Params(), name, in, out))
	if act != nil {
		s.Add(act)
	}
}

// NewLeNet5 builds LeNet-5 in d2l's layout for 28x28 inputs, as a nodes.Sequential named
// "lenet5": conv 6@5x5 (padding 2), pool, conv 16@5x5, pool, dense 120, dense 84, dense
// Classes. By default it uses ReLU and 2x2 max pooling; Classic gives the original sigmoid and
// average pooling. Parameters: conv1, conv2, fc1, fc2, fc3 (".weight", ".bias"), PyTorch's
// names for the same net.
func NewLeNet5(ps *graph.Params, opts ...Option) (*nodes.Sequential, error) {
	cfg := config(opts)
	if err := cfg.check("lenet5"); err != nil {
		return nil, err
	}
	h, w := (cfg.h/2-4)/2, (cfg.w/2-4)/2 // after conv1 (same size), pool, conv2 (5x5), pool
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("lenet5: input %dx%d is too small", cfg.h, cfg.w)
	}
	var act nodes.Layer = nodes.ReLU{}
	if cfg.classic {
		act = nodes.Sigmoid{}
	}
	s := nodes.NewSequential(ps, "lenet5", cfg.c, cfg.h, cfg.w).
		Add(nodes.NewConv2D(ps, "conv1", cfg.c, 6, 5, nodes.Padding(2))).Add(act).Add(cfg.pool("pool1")). // (B, 6, H/2, W/2)
		Add(nodes.NewConv2D(ps, "conv2", 6, 16, 5)).Add(act).Add(cfg.pool("pool2")).                      // (B, 16, h, w)
		Add(nodes.Flatten{})
	cfg.dense(s, "fc1", 16*h*w, 120, act)
	cfg.dense(s, "fc2", 120, 84, act)
	cfg.dense(s, "fc3", 84, cfg.classes, nil) // (B, Classes)
	if err := s.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// NewSmallCNN builds the small CNN of unroll's benchmarks (workload W1 of bench/WORKLOADS.md),
// as a nodes.Sequential named "smallcnn": conv 32@3x3 (padding 1), ReLU, 2x2 max pool, conv
// 64@3x3 (padding 1), ReLU, 2x2 max pool, dense 128, ReLU, dense Classes. Each convolution
// computes its ReLU in its own op (nodes.FusedReLU): the values of a separate nodes.ReLU{}, one
// pass over the activations less. Parameters: conv1, conv2, fc1, fc2.
func NewSmallCNN(ps *graph.Params, opts ...Option) (*nodes.Sequential, error) {
	cfg := config(opts)
	if err := cfg.check("smallcnn"); err != nil {
		return nil, err
	}
	if cfg.classic {
		return nil, fmt.Errorf("smallcnn: Classic applies to LeNet-5 only")
	}
	h, w := cfg.h/4, cfg.w/4
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("smallcnn: input %dx%d is too small", cfg.h, cfg.w)
	}
	s := nodes.NewSequential(ps, "smallcnn", cfg.c, cfg.h, cfg.w).
		Add(nodes.NewConv2D(ps, "conv1", cfg.c, 32, 3, nodes.Padding(1), nodes.FusedReLU())).Add(cfg.pool("pool1")). // (B, 32, H/2, W/2)
		Add(nodes.NewConv2D(ps, "conv2", 32, 64, 3, nodes.Padding(1), nodes.FusedReLU())).Add(cfg.pool("pool2")).    // (B, 64, h, w)
		Add(nodes.Flatten{})
	cfg.dense(s, "fc1", 64*h*w, 128, nodes.ReLU{})
	cfg.dense(s, "fc2", 128, cfg.classes, nil) // (B, Classes)
	if err := s.Err(); err != nil {
		return nil, err
	}
	return s, nil
}
