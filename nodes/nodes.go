// Package nodes holds unroll's layers: what users call to build a model, one file per family
// (convolution, pooling, dense, activations, dropout, batch normalisation, flatten, embedding,
// losses, the recurrent cells and masks). The Gorgonia operations behind them live in
// nodes/internal/ops, and the matrix multiply in nodes/gemm.
//
// Look first at Layer and Cell below, then at a layer such as Conv2D (conv.go) or a cell such
// as LSTMCell (lstm.go), whose doc comments hold their maths.
//
// Nodes are Gorgonia's own *gorgonia.Node: a layer adds nodes to a graph.Builder and returns
// one. Two shapes of type cover every building block:
//
//   - A Layer is a struct made by New<Layer>(params, name, sizes..., options...). The
//     constructor checks the sizes, creates the layer's named parameters in params (PyTorch's
//     names: "<name>.weight", "<name>.bias") and returns an error on anything invalid. Its one
//     method, Forward(b, x), adds the layer to b's graph and returns the output node; it checks
//     the input's shape and names the layer in every error.
//   - A Cell is a recurrent cell. Step(b, x, state) takes one time step: from the input x of
//     shape (B, D) and the previous State it returns the next State. Unrolling a cell over T
//     steps (package models/rnn) calls Step T times, which is how the graph for
//     backpropagation through time is drawn.
//
// A Sequential is layers applied in order, with a name and the shape of one example: the way
// to write a custom CNN or MLP (models/cnn's Classifier trains one on images). Custom layers
// plug in; a model written as Go code over layers implements Model instead.
//
// Export to ONNX: a layer says how it is written as ONNX operators by implementing Exporter
// (export.go; recurrent layers through ExportRecurrentONNX), a whole model, its inputs and
// outputs, by implementing ModelExporter (export_model.go; Sequential does). Package onnx
// writes the file.
//
// Layouts: images are NCHW, (B, C, H, W); sequences are batch-major (B, T) ids or (B, T, D)
// values at the data level, and an unrolled graph takes one (B, D) node per step.
package nodes

import (
	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
)

// Layer is anything that maps one node to another inside a graph being built.
type Layer interface {
	Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error)
}

// State is a recurrent cell's state at one time step: the hidden state H, shape (B, hidden),
// and for an LSTM the memory cell C of the same shape (nil for RNN and GRU cells).
type State struct {
	H, C *gorgonia.Node
}

// Cell is a recurrent cell that takes one time step.
type Cell interface {
	// Step maps the input x, shape (B, inputSize), and the previous state to the next state.
	Step(b *graph.Builder, x *gorgonia.Node, s State) (State, error)
	// InputSize and HiddenSize are the widths of x and of H.
	InputSize() int
	HiddenSize() int
	// HasCell reports whether the state has a memory cell C (LSTM).
	HasCell() bool
}
