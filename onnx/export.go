package onnx

import (
	"fmt"
	"reflect"

	"github.com/unroll-ml/unroll/nodes"
)

// Option configures Export and Convert.
type Option func(*exportConfig)

type exportConfig struct {
	opset int
}

// OpsetVersion writes the file for version v of ONNX's default operator set, from MinOpset
// (13) to Opset (17, the default); PyTorch's opset_version.
func OpsetVersion(v int) Option { return func(c *exportConfig) { c.opset = v } }

// Export writes model to the ONNX file path, as PyTorch's torch.onnx.export does for a
// module: the model's evaluation-mode forward pass, its parameters as initializers under
// their own names, and a dynamic batch axis (and time axis for sequences), so one file runs
// any batch size. No sample input is needed: the shapes come from the model. model is any
// nodes.ModelExporter:
//
//   - a *nodes.Sequential (a CNN or an MLP written from layers): input "x", float32
//     (batch, InputShape...); output "y", the last layer's output;
//   - a *cnn.Classifier (models/cnn): input "images", float32 (batch, C, H, W) before
//     normalisation (the classifier's normalisation is written into the graph); output
//     "logits", float32 (batch, classes);
//   - an *rnn.Net (models/rnn): input "x", float32 (batch, steps, features), or "ids", int64
//     (batch, steps), for a net that embeds token ids; output "logits" (CrossEntropy) or
//     "values" (MSE), (batch, steps, out) for EveryStep, (batch, out) otherwise;
//   - an *rnn.LanguageModel: inputs "ids", int64 (batch, steps), and the initial state "h0"
//     (and "c0" for LSTM), float32 (layers, batch, hidden); outputs "logits", float32
//     (batch, steps, vocabulary), and the final state "h_n" (and "c_n").
//
// A layer without an export rule is an error that names it. The file is written atomically
// (Model.Save). Convert gives the model in memory instead, to list its nodes or marshal it.
func Export(model nodes.ModelExporter, path string, opts ...Option) error {
	m, err := Convert(model, opts...)
	if err != nil {
		return err
	}
	return m.Save(path)
}

// Convert writes model as an ONNX graph in memory (see Export): a Model whose String lists
// the inputs, nodes and outputs, and whose Save and Marshal write the file.
func Convert(model nodes.ModelExporter, opts ...Option) (*Model, error) {
	cfg := exportConfig{opset: Opset}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if model == nil {
		return nil, fmt.Errorf("onnx export: nil model")
	}
	if v := reflect.ValueOf(model); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("onnx export: nil %T", model)
	}
	name := "model"
	if n, ok := model.(interface{ Name() string }); ok && n.Name() != "" {
		name = n.Name()
	}
	ps := model.Params()
	if ps == nil {
		return nil, fmt.Errorf("onnx export %s: the model has no parameters (nil Params)", name)
	}
	m := NewModel(ps, name)
	if err := m.SetOpset(cfg.opset); err != nil {
		return nil, err
	}
	if err := model.ExportONNXModel(m); err != nil {
		return nil, fmt.Errorf("onnx export %s: %w", name, err)
	}
	if len(m.g.Output) == 0 {
		return nil, fmt.Errorf("onnx export %s: the model declared no outputs", name)
	}
	return m, nil
}
