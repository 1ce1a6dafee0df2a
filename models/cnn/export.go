package cnn

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

var _ nodes.ModelExporter = (*Classifier)(nil)

// ExportONNXModel writes the classifier as a whole ONNX graph (nodes.ModelExporter: package
// onnx's Export calls it), so that the file alone classifies images:
//
//   - input "images", float32 (batch, C, H, W): the images as the data set holds them before
//     any normalisation, values in [0, 1] for 8-bit images (byte p is p/255), as
//     data.ImageSet.Float32s gives them;
//   - the normalisation the classifier was trained with (see Classifier), (x - mean[c]) /
//     std[c], as a Sub and a Div node; none when it was trained without one or not trained;
//   - the model's layers, through the model's own nodes.Exporter (a nodes.Sequential, or any
//     model that implements it);
//   - output "logits", float32 (batch, classes): the class scores, whose softmax is the
//     probabilities Predict gives.
//
// The file's metadata holds "normalization", the normalisation written into the graph.
func (c *Classifier) ExportONNXModel(g nodes.ONNXModelGraph) error {
	ex, ok := c.model.(nodes.Exporter)
	if !ok {
		return fmt.Errorf("classifier: %s (%T) has no ONNX export rule: it does not implement nodes.Exporter", c.model.Name(), c.model)
	}
	x, err := g.Input("images", tensor.Float32, append([]int{nodes.ONNXBatch}, c.input...)...)
	if err != nil {
		return fmt.Errorf("classifier: %w", err)
	}
	if c.normKnown && !c.norm.IsZero() {
		if x, err = c.exportNormalization(g, x); err != nil {
			return err
		}
	}
	g.SetMetadata("normalization", c.norm.String())
	y, err := ex.ExportONNX(g, x)
	if err != nil {
		return err
	}
	if len(y.Shape) != 2 || y.Shape[1] != c.classes {
		return fmt.Errorf("classifier: %s exports outputs of shape %v, want (batch, %d)", c.model.Name(), y.Shape, c.classes)
	}
	if err := g.Output("logits", y); err != nil {
		return fmt.Errorf("classifier: %w", err)
	}
	return nil
}

// exportNormalization writes (x - mean[c]) / std[c] over the channel axis of x (B, C, H, W),
// with the statistics as constants of shape (1, C, 1, 1).
func (c *Classifier) exportNormalization(g nodes.ONNXModelGraph, x nodes.ONNXValue) (nodes.ONNXValue, error) {
	ch := c.input[0]
	if len(c.norm.Mean) != ch || len(c.norm.Std) != ch {
		return x, fmt.Errorf("classifier: normalisation %v does not fit images of %d channels", c.norm, ch)
	}
	y := x.Name
	for _, step := range []struct {
		op, constant, out string
		v                 []float64
	}{{"Sub", "normalize.mean", "normalize.centered", c.norm.Mean}, {"Div", "normalize.std", "normalize", c.norm.Std}} {
		k, err := g.Constant(step.constant, graph.NewTensor(tensor.Float32, []int{1, ch, 1, 1}, step.v))
		if err != nil {
			return x, fmt.Errorf("classifier: %w", err)
		}
		out, err := g.Node(step.op, []string{y, k}, []string{step.out})
		if err != nil {
			return x, fmt.Errorf("classifier: %w", err)
		}
		y = out[0]
	}
	return nodes.ONNXValue{Name: y, Dtype: tensor.Float32, Shape: x.Shape}, nil
}
