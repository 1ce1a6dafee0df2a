package nodes

import (
	"errors"
	"fmt"
	"slices"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
)

// Model is a layer that knows the shape of one example of its input: what a classifier or a
// training loop builds graphs of any batch size from.
type Model interface {
	Layer
	// Name names the model in errors and checkpoints.
	Name() string
	// InputShape is the shape of one example, without the batch axis: (C, H, W) for images.
	InputShape() []int
	// Params is the parameter set the model's layers live in.
	Params() *graph.Params
}

// Sequential is a model made of layers applied in order, each to the output of the one before
// (PyTorch's nn.Sequential, Keras's Sequential): the way to write a CNN or an MLP. Any Layer
// plugs in, the layers of this package and custom ones alike.
//
//	ps := graph.NewParams(graph.Seed(1))
//	net := nodes.NewSequential(ps, "digits", 1, 8, 8).
//		Add(nodes.NewConv2D(ps, "conv1", 1, 16, 3, nodes.Padding(1))).
//		Add(nodes.ReLU{}).
//		Add(nodes.NewMaxPool2D("pool1", 2)).
//		Add(nodes.Flatten{}).
//		Add(nodes.NewDense(ps, "fc", 16*4*4, 10))
//	if err := net.Err(); err != nil { ... }
//
// Add takes a constructor's two results as they come, so that the first error of a chain is
// kept (Err) and reported by every later call instead of a layer that does not exist.
type Sequential struct {
	ps     *graph.Params
	name   string
	input  []int
	layers []Layer
	err    error
}

// NewSequential starts an empty model called name over ps whose examples have the shape input
// (without the batch axis).
func NewSequential(ps *graph.Params, name string, input ...int) *Sequential {
	s := &Sequential{ps: ps, name: name, input: append([]int(nil), input...)}
	switch {
	case ps == nil:
		s.err = fmt.Errorf("%s: nil params", s.label())
	case len(input) == 0:
		s.err = fmt.Errorf("%s: no input shape", s.label())
	}
	for _, d := range input {
		if d < 1 && s.err == nil {
			s.err = fmt.Errorf("%s: input shape %v has a size below 1", s.label(), input)
		}
	}
	return s
}

// Add appends a layer and returns s. It takes a constructor's results as they are,
// s.Add(nodes.NewDense(...)), or a layer alone, s.Add(nodes.ReLU{}); a non-nil error (or a
// nil layer) is kept as the model's error and every later Add is ignored.
func (s *Sequential) Add(l Layer, errs ...error) *Sequential {
	if s.err != nil {
		return s
	}
	if err := errors.Join(errs...); err != nil {
		s.err = fmt.Errorf("%s: layer %d: %w", s.label(), len(s.layers), err)
		return s
	}
	if l == nil {
		s.err = fmt.Errorf("%s: layer %d is nil", s.label(), len(s.layers))
		return s
	}
	s.layers = append(s.layers, l)
	return s
}

// Err returns the first error met while the model was put together, or nil.
func (s *Sequential) Err() error { return s.err }

func (s *Sequential) label() string {
	if s.name == "" {
		return "sequential"
	}
	return s.name
}

// Name is the model's name.
func (s *Sequential) Name() string { return s.name }

// InputShape is the shape of one example, without the batch axis.
func (s *Sequential) InputShape() []int { return append([]int(nil), s.input...) }

// Params is the parameter set the layers live in.
func (s *Sequential) Params() *graph.Params { return s.ps }

// Layers lists the layers in order.
func (s *Sequential) Layers() []Layer { return append([]Layer(nil), s.layers...) }

// Forward applies the layers in order to x, whose shape must be (B, InputShape...).
func (s *Sequential) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	outs, err := s.Outputs(b, x)
	if err != nil {
		return nil, err
	}
	return outs[len(outs)-1], nil
}

// Outputs applies the layers in order to x and returns every layer's output, the last the
// model's: what feature maps are read from.
func (s *Sequential) Outputs(b *graph.Builder, x *gorgonia.Node) ([]*gorgonia.Node, error) {
	if s.err != nil {
		return nil, s.err
	}
	if len(s.layers) == 0 {
		return nil, fmt.Errorf("%s: no layers", s.label())
	}
	if x == nil {
		return nil, fmt.Errorf("%s: nil input", s.label())
	}
	if sh := x.Shape(); len(sh) != len(s.input)+1 || !slices.Equal(sh[1:], s.input) {
		return nil, fmt.Errorf("%s: input must be (batch, %s), has shape %v", s.label(), dims(s.input), sh)
	}
	outs := make([]*gorgonia.Node, len(s.layers))
	for i, l := range s.layers {
		var err error
		if x, err = l.Forward(b, x); err != nil {
			return nil, fmt.Errorf("%s: %w", s.label(), err)
		}
		outs[i] = x
	}
	return outs, nil
}

// OutputShape is the shape of the model's output for one example (without the batch axis):
// (Classes) for a classifier. It builds the model once, for a batch of 1, to find out.
func (s *Sequential) OutputShape() ([]int, error) {
	b := graph.NewBuilder(s.ps, graph.Eval)
	x, err := b.Input("x", append([]int{1}, s.input...)...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.label(), err)
	}
	y, err := s.Forward(b, x)
	if err != nil {
		return nil, err
	}
	return append([]int(nil), y.Shape()[1:]...), nil
}

// dims formats sizes as "1, 28, 28".
func dims(v []int) string {
	out := ""
	for i, d := range v {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprint(d)
	}
	return out
}

var _ Model = (*Sequential)(nil)
