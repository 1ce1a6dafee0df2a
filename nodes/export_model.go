package nodes

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
)

// This file is how a whole model describes itself to an ONNX writer: its inputs, its layers
// (through Exporter) and its outputs. Package onnx's Export takes any ModelExporter.

// ONNXSteps marks the time axis of a sequence in an ONNXValue's shape: like ONNXBatch it is
// dynamic in the written file (the named dimension "steps"), so one file reads sequences of
// any length, e.g. (ONNXBatch, ONNXSteps) for token ids.
const ONNXSteps = -2

// ONNXModelGraph is the ONNX graph a whole model writes itself into: an ONNXGraph that also
// declares the graph's inputs and outputs and records metadata. Package onnx implements it.
type ONNXModelGraph interface {
	ONNXGraph
	// Input declares a graph input called name of element type dtype (tensor.Float32, or
	// tensor.Int64 for ids) and shape shape, where ONNXBatch and ONNXSteps mark the dynamic
	// axes.
	Input(name string, dtype tensor.Dtype, shape ...int) (ONNXValue, error)
	// Output declares v a graph output called name.
	Output(name string, v ONNXValue) error
	// SetMetadata records a key and its value in the file's metadata (ONNX's metadata_props),
	// e.g. a language model's vocabulary.
	SetMetadata(key, value string)
}

// ModelExporter is a whole model that writes itself as an ONNX graph: ExportONNXModel
// declares the graph's inputs, writes the operators of the model's evaluation-mode forward
// pass (its layers' ExportONNX) and declares the outputs, all with a dynamic batch axis.
// Params is the parameter set the graph's initializers are read from. Package onnx's Export
// writes any ModelExporter to a file: Sequential, models/cnn's Classifier and models/rnn's Net
// and LanguageModel are ModelExporters, each documenting the names and shapes of its inputs
// and outputs.
type ModelExporter interface {
	Params() *graph.Params
	ExportONNXModel(g ONNXModelGraph) error
}

var _ ModelExporter = (*Sequential)(nil)

// ExportONNXModel writes the model as a whole ONNX graph: the input "x", float32
// (batch, InputShape...), the layers in order (each layer's ExportONNX, so a layer without an
// export rule is an error naming it), and the output "y", the last layer's output.
func (s *Sequential) ExportONNXModel(g ONNXModelGraph) error {
	if s.err != nil {
		return s.err
	}
	if len(s.layers) == 0 {
		return fmt.Errorf("%s: no layers", s.label())
	}
	x, err := g.Input("x", tensor.Float32, append([]int{ONNXBatch}, s.input...)...)
	if err != nil {
		return fmt.Errorf("%s: %w", s.label(), err)
	}
	y, err := s.ExportONNX(g, x)
	if err != nil {
		return err
	}
	if err := g.Output("y", y); err != nil {
		return fmt.Errorf("%s: %w", s.label(), err)
	}
	return nil
}

// exportDenseSteps writes a Dense layer applied to the last axis of x (B, T, in), as a
// recurrent model's head reads every step (PyTorch's nn.Linear on a sequence): a MatMul with
// the transposed weight and, with a bias, an Add, giving (B, T, out).
func (d *Dense) exportDenseSteps(g ONNXGraph, x ONNXValue) (ONNXValue, error) {
	w, err := g.Param(d.name + ".weight")
	var wt, y string
	if err == nil {
		wt, err = onnxNode(g, "Transpose", []string{w}, d.name+".weight_t", ONNXAttr{"perm", []int{1, 0}}) // (in, out)
	}
	if err == nil {
		y, err = onnxNode(g, "MatMul", []string{x.Name, wt}, d.name+".matmul")
	}
	if err == nil && d.bias {
		var b string
		if b, err = g.Param(d.name + ".bias"); err == nil {
			y, err = onnxNode(g, "Add", []string{y, b}, d.name)
		}
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", d.name, err)
	}
	return onnxResult(y, []int{x.Shape[0], x.Shape[1], d.out}, err)
}
