package cnn

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// FeatureMap is the activation of one convolution's channels for one image.
type FeatureMap struct {
	Name    string // the convolution's
	C, H, W int
	Values  []float64 // (C, H, W), row-major
}

// layered is a model made of layers in order whose every output can be read: a
// nodes.Sequential.
type layered interface {
	Layers() []nodes.Layer
	Outputs(b *graph.Builder, x *gorgonia.Node) ([]*gorgonia.Node, error)
}

// FeatureMaps runs one image x (1, C, H, W), normalised as the training data was, through the
// model in evaluation mode and returns, in order, the activation of each convolution (a
// nodes.Conv2D): the output of the last layer after it that keeps its shape (its activation,
// batch norm or dropout), before the next pooling or convolution. The model must be made of
// layers, as a nodes.Sequential is.
func (c *Classifier) FeatureMaps(x *tensor.Dense) (maps []FeatureMap, err error) {
	net, ok := c.model.(layered)
	if !ok {
		return nil, fmt.Errorf("feature maps: %s is not made of layers (a nodes.Sequential)", c.model.Name())
	}
	if want := append(tensor.Shape{1}, c.input...); x == nil || !x.Shape().Eq(want) {
		return nil, fmt.Errorf("feature maps: want one image of shape %v", want)
	}
	b := graph.NewBuilder(c.ps, graph.Eval)
	in, err := b.Input("x", append([]int{1}, c.input...)...)
	if err != nil {
		return nil, fmt.Errorf("feature maps: %w", err)
	}
	outs, err := net.Outputs(b, in)
	if err != nil {
		return nil, fmt.Errorf("feature maps: %w", err)
	}
	names, nodesOf := convActivations(net.Layers(), outs)
	if len(names) == 0 {
		return nil, nil
	}
	want := map[string]*gorgonia.Node{}
	for i, n := range names {
		want[n] = nodesOf[i]
	}
	prog, err := graph.Compile(b, want)
	if err != nil {
		return nil, fmt.Errorf("feature maps: %w", err)
	}
	defer func() {
		if cerr := prog.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("feature maps: %w", cerr)
		}
	}()
	vals, err := prog.Run(graph.Feeds{"x": c.convert(x)})
	if err != nil {
		return nil, fmt.Errorf("feature maps: %w", err)
	}
	maps = make([]FeatureMap, len(names))
	for i, n := range names {
		s := nodesOf[i].Shape()
		maps[i] = FeatureMap{Name: n, C: s[1], H: s[2], W: s[3], Values: graph.Float64s(vals[n])}
	}
	return maps, nil
}

// convActivations picks, for each convolution among layers, the output of the last layer after
// it that keeps its shape and is no convolution or pooling.
func convActivations(layers []nodes.Layer, outs []*gorgonia.Node) (names []string, maps []*gorgonia.Node) {
	for i, l := range layers {
		conv, ok := l.(*nodes.Conv2D)
		if !ok || len(outs[i].Shape()) != 4 {
			continue
		}
		j := i
		for j+1 < len(layers) && outs[j+1].Shape().Eq(outs[i].Shape()) && !reshapes(layers[j+1]) {
			j++
		}
		names, maps = append(names, conv.Name()), append(maps, outs[j])
	}
	return names, maps
}

// reshapes reports the layers that end a convolution's block even when they keep its shape.
func reshapes(l nodes.Layer) bool {
	switch l.(type) {
	case *nodes.Conv2D, *nodes.MaxPool2D, *nodes.AvgPool2D:
		return true
	}
	return false
}
