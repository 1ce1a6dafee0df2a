package rnn

import (
	"encoding/json"
	"fmt"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

var (
	_ nodes.ModelExporter = (*Net)(nil)
	_ nodes.ModelExporter = (*LanguageModel)(nil)
)

// ExportONNXModel writes the net as a whole ONNX graph (nodes.ModelExporter: package onnx's
// Export calls it) that reads each sequence from zero state, as Predict does:
//
//   - input "x", float32 (batch, steps, in), or for a net that embeds token ids (Embed) "ids",
//     int64 (batch, steps): batch-major, as a data.SequenceSet holds them, of any number of
//     steps;
//   - the embedding (a Gather), then the recurrent layers as ONNX LSTM, GRU or RNN nodes, one
//     per layer (nodes.ExportRecurrentONNX; dropout is left out, as in evaluation);
//   - the head: at every step (EveryStep), on the top layer's final hidden states, both
//     directions side by side (LastState), or on the mean of the top layer's outputs over the
//     steps (MeanPool);
//   - output "logits" for CrossEntropy, whose softmax is Predict's Probs, or "values" for MSE:
//     (batch, steps, out) for EveryStep, batch-major as Predict gives them, and (batch, out)
//     otherwise.
//
// A Masked net is not exported (its file would need the sequences' lengths as an input): an
// error says so.
func (n *Net) ExportONNXModel(g nodes.ONNXModelGraph) error {
	if n.cfg.masked {
		return fmt.Errorf("%s: a masked net cannot be exported to ONNX: only nets without Masked() are", n.label())
	}
	var x nodes.ONNXValue
	var err error
	if n.embed != nil {
		x, err = g.Input("ids", tensor.Int64, nodes.ONNXBatch, nodes.ONNXSteps)
	} else {
		x, err = g.Input("x", tensor.Float32, nodes.ONNXBatch, nodes.ONNXSteps, n.in)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", n.label(), err)
	}
	pred, _, err := n.exportONNX(g, x, nodes.ONNXValue{}, nodes.ONNXValue{})
	if err != nil {
		return err
	}
	out := "logits"
	if n.cfg.loss == MSE {
		out = "values"
	}
	if err := g.Output(out, pred); err != nil {
		return fmt.Errorf("%s: %w", n.label(), err)
	}
	return nil
}

// exportONNX writes the net reading x (ids, or (B, T, in) values) from the initial state h0
// and c0 (ONNXValues without a name for zero state) and returns the head's output and what
// the recurrent layers wrote.
func (n *Net) exportONNX(g nodes.ONNXGraph, x, h0, c0 nodes.ONNXValue) (nodes.ONNXValue, nodes.ONNXRecurrent, error) {
	var err error
	if n.embed != nil {
		if x, err = n.embed.ExportONNX(g, x); err != nil { // (B, T, in)
			return nodes.ONNXValue{}, nodes.ONNXRecurrent{}, err
		}
	}
	rec, err := nodes.ExportRecurrentONNX(g, n.rec.cells, x, h0, c0)
	if err != nil {
		return nodes.ONNXValue{}, nodes.ONNXRecurrent{}, err
	}
	feat := rec.Y // (B, T, D·H)
	switch n.cfg.readout {
	case LastState:
		feat, err = n.exportLastState(g, rec.H)
	case MeanPool:
		var y string
		if y, err = onnxNode(g, "ReduceMean", []string{rec.Y.Name}, n.param("pool"), nodes.ONNXAttr{Name: "axes", Value: []int{1}}, nodes.ONNXAttr{Name: "keepdims", Value: 0}); err == nil {
			feat = nodes.ONNXValue{Name: y, Dtype: tensor.Float32, Shape: []int{rec.Y.Shape[0], rec.Y.Shape[2]}}
		}
	}
	if err != nil {
		return nodes.ONNXValue{}, nodes.ONNXRecurrent{}, fmt.Errorf("%s: %w", n.label(), err)
	}
	pred, err := n.head.ExportONNX(g, feat) // (B, T, out) or (B, out)
	return pred, rec, err
}

// exportLastState writes the top layer's final hidden states side by side, (B, D·H), from the
// final states h_n (L·D, B, H).
func (n *Net) exportLastState(g nodes.ONNXGraph, hn nodes.ONNXValue) (nodes.ONNXValue, error) {
	L, D := n.rec.Layers(), n.rec.Directions()
	top := hn.Name
	if L > 1 { // rows (L-1)·D to L·D
		ins := []string{top}
		for i, v := range []int64{int64((L - 1) * D), int64(L * D), 0} {
			c, err := g.Constant(n.param([]string{"last.starts", "last.ends", "last.axes"}[i]), int64s(v))
			if err != nil {
				return nodes.ONNXValue{}, err
			}
			ins = append(ins, c)
		}
		var err error
		if top, err = onnxNode(g, "Slice", ins, n.param("last.top")); err != nil { // (D, B, H)
			return nodes.ONNXValue{}, err
		}
	}
	t, err := onnxNode(g, "Transpose", []string{top}, n.param("last.transpose"), nodes.ONNXAttr{Name: "perm", Value: []int{1, 0, 2}}) // (B, D, H)
	if err != nil {
		return nodes.ONNXValue{}, err
	}
	shape, err := g.Constant(n.param("last.shape"), int64s(0, -1))
	if err != nil {
		return nodes.ONNXValue{}, err
	}
	y, err := onnxNode(g, "Reshape", []string{t, shape}, n.param("last"))
	if err != nil {
		return nodes.ONNXValue{}, err
	}
	return nodes.ONNXValue{Name: y, Dtype: tensor.Float32, Shape: []int{hn.Shape[1], D * n.rec.HiddenSize()}}, nil
}

// onnxNode adds a node with one output named out and returns its name.
func onnxNode(g nodes.ONNXGraph, op string, inputs []string, out string, attrs ...nodes.ONNXAttr) (string, error) {
	names, err := g.Node(op, inputs, []string{out}, attrs...)
	if err != nil {
		return "", err
	}
	if len(names) != 1 {
		return "", fmt.Errorf("%s node %s: the graph returned %d output names for 1 output", op, out, len(names))
	}
	return names[0], nil
}

// int64s is an int64 vector.
func int64s(v ...int64) *tensor.Dense {
	return tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(v))
}

// ExportONNXModel writes the language model as a whole ONNX graph (nodes.ModelExporter:
// package onnx's Export calls it) that gives the scores of the next character at every step
// and the state to continue from, as Generate and Evaluate carry it:
//
//   - inputs "ids", int64 (batch, steps): character ids of the vocabulary (Vocab().Encode), of
//     any number of steps; "h0", and "c0" for an LSTM, float32 (layers, batch, hidden): the
//     initial state, zeros at the start of a text and the last call's "h_n" ("c_n") to
//     continue one;
//   - one-hot vectors (a Gather of an identity matrix's rows) or the embedding, the recurrent
//     layers as ONNX LSTM, GRU or RNN nodes, the head at every step;
//   - outputs "logits", float32 (batch, steps, vocabulary), whose softmax at step t is
//     P(x_{t+1} | x_1..x_t), and the final state "h_n" (and "c_n"), (layers, batch, hidden).
//
// The file's metadata holds "vocabulary": a JSON array of the characters in id order, id 0 the
// unknown symbol (shown as U+FFFD).
func (lm *LanguageModel) ExportONNXModel(g nodes.ONNXModelGraph) error {
	n := lm.net
	layers, hidden := n.rec.Layers(), n.rec.HiddenSize()
	ids, err := g.Input("ids", tensor.Int64, nodes.ONNXBatch, nodes.ONNXSteps)
	var h0, c0 nodes.ONNXValue
	if err == nil {
		h0, err = g.Input("h0", tensor.Float32, layers, nodes.ONNXBatch, hidden)
	}
	if err == nil && n.kind == LSTM {
		c0, err = g.Input("c0", tensor.Float32, layers, nodes.ONNXBatch, hidden)
	}
	x := ids
	if err == nil && lm.cfg.Embedding == 0 {
		x, err = lm.exportOneHot(g, ids)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", lm.label(), err)
	}
	logits, rec, err := n.exportONNX(g, x, h0, c0)
	if err != nil {
		return err
	}
	outs := []struct {
		name string
		v    nodes.ONNXValue
	}{{"logits", logits}, {"h_n", rec.H}, {"c_n", rec.C}}
	for _, o := range outs {
		if o.v.Name == "" {
			continue
		}
		if err := g.Output(o.name, o.v); err != nil {
			return fmt.Errorf("%s: %w", lm.label(), err)
		}
	}
	V := lm.vocab.Size()
	symbols := make([]string, V)
	for id := range symbols {
		symbols[id] = string(lm.vocab.Symbol(id))
	}
	js, err := json.Marshal(symbols)
	if err != nil {
		return fmt.Errorf("%s: vocabulary: %w", lm.label(), err)
	}
	g.SetMetadata("vocabulary", string(js))
	return nil
}

// exportOneHot writes the one-hot vectors of ids, (B, T, V), as a Gather of the rows of a
// V x V identity matrix.
func (lm *LanguageModel) exportOneHot(g nodes.ONNXGraph, ids nodes.ONNXValue) (nodes.ONNXValue, error) {
	V := lm.vocab.Size()
	eye := make([]float64, V*V)
	for i := range V {
		eye[i*V+i] = 1
	}
	table, err := g.Constant(lm.net.param("one_hot.table"), graph.NewTensor(tensor.Float32, []int{V, V}, eye))
	if err != nil {
		return nodes.ONNXValue{}, err
	}
	y, err := onnxNode(g, "Gather", []string{table, ids.Name}, lm.net.param("one_hot"), nodes.ONNXAttr{Name: "axis", Value: 0})
	if err != nil {
		return nodes.ONNXValue{}, err
	}
	return nodes.ONNXValue{Name: y, Dtype: tensor.Float32, Shape: append(append([]int(nil), ids.Shape...), V)}, nil
}
