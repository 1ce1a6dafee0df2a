// Package cnn holds convolutional classifiers for images (NCHW) and the code that trains,
// evaluates and inspects them: LeNet-5 as d2l draws it for 28x28 digits, the standard W1 net of
// unroll's benchmarks, and a Classifier that fits either with a solver and reports accuracy,
// loss and a confusion matrix.
package cnn

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// Net is a network written as a list of layers applied in order. It maps images
// (B, C, H, W) to class scores (B, Classes), the logits of a softmax classifier.
type Net struct {
	name    string
	c, h, w int
	classes int
	layers  []stage
}

// stage is one layer of a Net; conv marks the activations worth looking at as feature maps
// (the output of a convolution's nonlinearity).
type stage struct {
	name  string
	layer nodes.Layer
	maps  bool
}

// Name is the network's name ("lenet5", "w1").
func (n *Net) Name() string { return n.name }

// InputShape is the (C, H, W) of one input image.
func (n *Net) InputShape() (c, h, w int) { return n.c, n.h, n.w }

// Classes is the number of output classes.
func (n *Net) Classes() int { return n.classes }

// Forward maps x (B, C, H, W) to logits (B, Classes).
func (n *Net) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	out, _, err := n.forward(b, x)
	return out, err
}

// FeatureMaps maps x like Forward and also returns, in order, the activations after each
// convolution's nonlinearity, each (B, C_l, H_l, W_l), named after the convolution.
func (n *Net) FeatureMaps(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, []NamedNode, error) {
	return n.forward(b, x)
}

// NamedNode is a node with the name of the layer that made it.
type NamedNode struct {
	Name string
	Node *gorgonia.Node
}

func (n *Net) forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, []NamedNode, error) {
	if x == nil {
		return nil, nil, fmt.Errorf("%s: nil input", n.name)
	}
	if s := x.Shape(); len(s) != 4 || s[1] != n.c || s[2] != n.h || s[3] != n.w {
		return nil, nil, fmt.Errorf("%s: input must be (batch, %d, %d, %d), has shape %v", n.name, n.c, n.h, n.w, x.Shape())
	}
	var maps []NamedNode
	var err error
	for _, s := range n.layers {
		if x, err = s.layer.Forward(b, x); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", n.name, err)
		}
		if s.maps {
			maps = append(maps, NamedNode{Name: s.name, Node: x})
		}
	}
	return x, maps, nil
}

// NetOption configures NewLeNet5 and NewW1.
type NetOption func(*netConfig)

type netConfig struct {
	classic bool
	dropout float64
	classes int
	c, h, w int
}

// Classic makes LeNet-5 the 1998 original: sigmoid activations and average pooling instead of
// ReLU and max pooling.
func Classic() NetOption { return func(c *netConfig) { c.classic = true } }

// Dropout adds dropout with probability p before each dense layer (0 turns it off).
func Dropout(p float64) NetOption { return func(c *netConfig) { c.dropout = p } }

// Input sets the input image shape (default 1 x 28 x 28, MNIST's).
func Input(channels, height, width int) NetOption {
	return func(c *netConfig) { c.c, c.h, c.w = channels, height, width }
}

// Classes sets the number of classes (default 10).
func Classes(k int) NetOption { return func(c *netConfig) { c.classes = k } }

func config(opts []NetOption) netConfig {
	cfg := netConfig{classes: 10, c: 1, h: 28, w: 28}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// check reports settings no net can have; sizes are left to the layers, which name them.
func (c netConfig) check(net string) error {
	if !(c.dropout >= 0 && c.dropout < 1) {
		return fmt.Errorf("%s: dropout probability must be in [0, 1), got %v", net, c.dropout)
	}
	return nil
}

// builder collects the stages of a Net, stopping at the first error.
type builder struct {
	net *Net
	err error
}

func (nb *builder) add(name string, maps bool, l nodes.Layer, err error) {
	if nb.err != nil {
		return
	}
	if err != nil {
		nb.err = fmt.Errorf("%s: %w", nb.net.name, err)
		return
	}
	nb.net.layers = append(nb.net.layers, stage{name: name, layer: l, maps: maps})
}

// NewLeNet5 builds LeNet-5 in d2l's layout for 28x28 inputs: conv 6@5x5 (padding 2), pool,
// conv 16@5x5, pool, dense 120, dense 84, dense 10. By default it uses ReLU and 2x2 max
// pooling; Classic gives the original sigmoid and average pooling. Parameters: conv1, conv2,
// fc1, fc2, fc3 (".weight", ".bias").
func NewLeNet5(ps *graph.Params, opts ...NetOption) (*Net, error) {
	cfg := config(opts)
	if err := cfg.check("lenet5"); err != nil {
		return nil, err
	}
	nb := &builder{net: &Net{name: "lenet5", c: cfg.c, h: cfg.h, w: cfg.w, classes: cfg.classes}}
	var act nodes.Layer = nodes.ReLU{}
	pool := maxPooling
	if cfg.classic {
		act, pool = nodes.Sigmoid{}, avgPooling
	}
	h, w := cfg.h, cfg.w
	conv1, err := nodes.NewConv2D(ps, "conv1", cfg.c, 6, 5, nodes.Padding(2))
	nb.add("conv1", false, conv1, err)
	nb.add("act1", true, act, nil)
	nb.addPool(pool, "pool1")
	h, w = h/2, w/2
	conv2, err := nodes.NewConv2D(ps, "conv2", 6, 16, 5)
	nb.add("conv2", false, conv2, err)
	nb.add("act2", true, act, nil)
	nb.addPool(pool, "pool2")
	h, w = (h-4)/2, (w-4)/2
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("lenet5: input %dx%d is too small", cfg.h, cfg.w)
	}
	nb.add("flatten", false, nodes.Flatten{}, nil)
	nb.dense(ps, cfg, "fc1", 16*h*w, 120, act)
	nb.dense(ps, cfg, "fc2", 120, 84, act)
	nb.dense(ps, cfg, "fc3", 84, cfg.classes, nil)
	return nb.net, nb.err
}

// NewW1 builds the W1 net of unroll's benchmarks (bench/WORKLOADS): conv 32@3x3 (padding 1),
// ReLU, 2x2 max pool, conv 64@3x3 (padding 1), ReLU, 2x2 max pool, dense 128, ReLU, dense 10.
// Parameters: conv1, conv2, fc1, fc2.
func NewW1(ps *graph.Params, opts ...NetOption) (*Net, error) {
	cfg := config(opts)
	if err := cfg.check("w1"); err != nil {
		return nil, err
	}
	nb := &builder{net: &Net{name: "w1", c: cfg.c, h: cfg.h, w: cfg.w, classes: cfg.classes}}
	// Each convolution computes its ReLU in its own op (nodes.FusedReLU): the same values as a
	// separate nodes.ReLU{}, one pass over the activations less. Its output is the stage "relu1".
	conv1, err := nodes.NewConv2D(ps, "conv1", cfg.c, 32, 3, nodes.Padding(1), nodes.FusedReLU())
	nb.add("relu1", true, conv1, err)
	nb.addPool(maxPooling, "pool1")
	conv2, err := nodes.NewConv2D(ps, "conv2", 32, 64, 3, nodes.Padding(1), nodes.FusedReLU())
	nb.add("relu2", true, conv2, err)
	nb.addPool(maxPooling, "pool2")
	h, w := cfg.h/4, cfg.w/4
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("w1: input %dx%d is too small", cfg.h, cfg.w)
	}
	nb.add("flatten", false, nodes.Flatten{}, nil)
	nb.dense(ps, cfg, "fc1", 64*h*w, 128, nodes.ReLU{})
	nb.dense(ps, cfg, "fc2", 128, cfg.classes, nil)
	return nb.net, nb.err
}

// pooling is the kind of a net's 2x2 pooling layers.
type pooling int

const (
	maxPooling pooling = iota
	avgPooling
)

func (nb *builder) addPool(kind pooling, name string) {
	if kind == avgPooling {
		p, err := nodes.NewAvgPool2D(name, 2)
		nb.add(name, false, p, err)
		return
	}
	p, err := nodes.NewMaxPool2D(name, 2)
	nb.add(name, false, p, err)
}

// dense adds an optional dropout, a Dense layer and an optional activation.
func (nb *builder) dense(ps *graph.Params, cfg netConfig, name string, in, out int, act nodes.Layer) {
	if cfg.dropout > 0 {
		d, err := nodes.NewDropout(name+".dropout", cfg.dropout)
		nb.add(name+".dropout", false, d, err)
	}
	fc, err := nodes.NewDense(ps, name, in, out)
	nb.add(name, false, fc, err)
	if act != nil {
		nb.add(name+".act", false, act, nil)
	}
}
