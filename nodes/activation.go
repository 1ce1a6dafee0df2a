package nodes

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// Func is a layer without parameters written as a function of one node: any such function
// converts to a Layer, Func(f).
type Func func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error)

// Forward calls f.
func (f Func) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) { return f(b, x) }

// The activations are layers without parameters, values of empty struct types (like PyTorch's
// nn.ReLU()): nodes.ReLU{}.Forward(b, x) adds one to a graph, and nodes.ReLU{} is a layer that a
// Sequential holds.

// ReLU is max(0, x) elementwise; its derivative is 1 where x > 0 and 0 elsewhere (0 at 0, as in
// PyTorch).
type ReLU struct{}

// Forward adds max(0, x) to b's graph.
func (ReLU) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	return activate(b, x, ops.ReLU, 0)
}

// Tanh is tanh(x) elementwise; its derivative is 1 - tanh(x)².
type Tanh struct{}

// Forward adds tanh(x) to b's graph.
func (Tanh) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	return activate(b, x, ops.Tanh, 0)
}

// Sigmoid is σ(x) = 1/(1 + e^(-x)) elementwise, computed without overflow; its derivative is
// σ(x)(1 - σ(x)).
type Sigmoid struct{}

// Forward adds σ(x) to b's graph.
func (Sigmoid) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	return activate(b, x, ops.Sigmoid, 0)
}

// LeakyReLU is x where x > 0 and Slope·x elsewhere, elementwise; its derivative is 1 or Slope.
// PyTorch's default slope is 0.01: nodes.LeakyReLU{Slope: 0.01}.
type LeakyReLU struct{ Slope float64 }

// Forward adds the leaky ReLU of x to b's graph.
func (l LeakyReLU) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	return activate(b, x, ops.LeakyReLU, l.Slope)
}

// Softmax normalises the last axis into probabilities, softmax(x)_i = e^(x_i - m) /
// Σ_j e^(x_j - m) with m = max_j x_j (subtracting m changes nothing but avoids overflow). For
// logits (B, K) it gives (B, K) rows that sum to 1. Its gradient is dx = y ⊙ (dy - Σ_j dy_j y_j).
type Softmax struct{}

// Forward adds the softmax of x over its last axis to b's graph.
func (Softmax) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	return softmax(b, x, false)
}

// LogSoftmax is log(softmax(x)) over the last axis, computed stably as
// x_i - m - log Σ_j e^(x_j - m). Its gradient is dx = dy - softmax(x) Σ_j dy_j.
type LogSoftmax struct{}

// Forward adds the log-softmax of x over its last axis to b's graph.
func (LogSoftmax) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	return softmax(b, x, true)
}

func activate(b *graph.Builder, x *gorgonia.Node, kind ops.ActKind, slope float64) (*gorgonia.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("%v: nil input", kind)
	}
	if x.Dims() < 1 {
		return nil, fmt.Errorf("%v: input must be a tensor, has shape %v", kind, x.Shape())
	}
	if kind == ops.LeakyReLU && (math.IsNaN(slope) || math.IsInf(slope, 0)) {
		return nil, fmt.Errorf("%v: slope must be finite, got %v", kind, slope)
	}
	y, err := ops.Activation(x, kind, slope, b.Name(kind.String()))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", kind, err)
	}
	return y, nil
}

func softmax(b *graph.Builder, x *gorgonia.Node, log bool) (*gorgonia.Node, error) {
	what := ops.SoftmaxName(log)
	if x == nil {
		return nil, fmt.Errorf("%v: nil input", what)
	}
	if x.Dims() < 1 {
		return nil, fmt.Errorf("%v: input must be a tensor, has shape %v", what, x.Shape())
	}
	y, err := ops.Softmax(x, log, b.Name(what))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", what, err)
	}
	return y, nil
}
