package nodes_test

import (
	"fmt"
	"slices"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// Every layer of the package with an ONNX export rule (package onnx runs them all in ONNX
// Runtime).
var (
	_ nodes.Exporter = (*nodes.Dense)(nil)
	_ nodes.Exporter = (*nodes.Conv2D)(nil)
	_ nodes.Exporter = (*nodes.Conv1D)(nil)
	_ nodes.Exporter = (*nodes.MaxPool2D)(nil)
	_ nodes.Exporter = (*nodes.MaxPool1D)(nil)
	_ nodes.Exporter = (*nodes.AvgPool2D)(nil)
	_ nodes.Exporter = (*nodes.AvgPool1D)(nil)
	_ nodes.Exporter = (*nodes.GlobalAvgPool2D)(nil)
	_ nodes.Exporter = (*nodes.BatchNorm2D)(nil)
	_ nodes.Exporter = (*nodes.BatchNorm1D)(nil)
	_ nodes.Exporter = (*nodes.Dropout)(nil)
	_ nodes.Exporter = (*nodes.Embedding)(nil)
	_ nodes.Exporter = nodes.ReLU{}
	_ nodes.Exporter = nodes.Flatten{}
)

// recorder is an ONNXGraph that records what a layer writes.
type recorder struct {
	ps     *graph.Params
	consts map[string]*tensor.Dense
	nodes  []recorded
}

type recorded struct {
	op             string
	inputs, output []string
	attrs          map[string]any
}

func newRecorder(ps *graph.Params) *recorder {
	return &recorder{ps: ps, consts: map[string]*tensor.Dense{}}
}

func (r *recorder) ParamValue(name string) (*tensor.Dense, error) {
	if v := r.ps.Value(name); v != nil {
		return v, nil
	}
	return nil, fmt.Errorf("no parameter %s", name)
}

func (r *recorder) Param(name string) (string, error) {
	v, err := r.ParamValue(name)
	if err != nil {
		return "", err
	}
	return r.Constant(name, v)
}

func (r *recorder) Constant(name string, t *tensor.Dense) (string, error) {
	r.consts[name] = t
	return name, nil
}

func (r *recorder) Node(op string, inputs, outputs []string, attrs ...nodes.ONNXAttr) ([]string, error) {
	n := recorded{op: op, inputs: inputs, output: outputs, attrs: map[string]any{}}
	for _, a := range attrs {
		n.attrs[a.Name] = a.Value
	}
	r.nodes = append(r.nodes, n)
	return outputs, nil
}

func (r *recorder) find(op string) (recorded, bool) {
	for _, n := range r.nodes {
		if n.op == op {
			return n, true
		}
	}
	return recorded{}, false
}

// TestExportRecurrentGateOrder: the weights written for ONNX hold PyTorch's gate blocks in
// ONNX's order (LSTM i, o, f, c from i, f, g, o; GRU z, r, h from r, z, n), the input biases
// before the recurrent ones, and a GRU layer says linear_before_reset = 1.
func TestExportRecurrentGateOrder(t *testing.T) {
	const in, hidden = 2, 3
	for _, c := range []struct {
		name  string
		make  func(*graph.Params) (nodes.Cell, error)
		op    string
		order []int
	}{
		{"lstm", func(ps *graph.Params) (nodes.Cell, error) { return nodes.NewLSTMCell(ps, "lstm", in, hidden) }, "LSTM", []int{0, 3, 1, 2}},
		{"gru", func(ps *graph.Params) (nodes.Cell, error) { return nodes.NewGRUCell(ps, "gru", in, hidden) }, "GRU", []int{1, 0, 2}},
		{"rnn", func(ps *graph.Params) (nodes.Cell, error) { return nodes.NewRNNCell(ps, "rnn", in, hidden) }, "RNN", []int{0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := graph.NewParams(graph.Seed(1))
			cell, err := c.make(ps)
			if err != nil {
				t.Fatal(err)
			}
			g := newRecorder(ps)
			x := nodes.ONNXValue{Name: "x", Dtype: tensor.Float32, Shape: []int{nodes.ONNXBatch, 4, in}}
			if _, err := nodes.ExportRecurrentONNX(g, [][]nodes.Cell{{cell}}, x, nodes.ONNXValue{}, nodes.ONNXValue{}); err != nil {
				t.Fatal(err)
			}
			n, ok := g.find(c.op)
			if !ok {
				t.Fatalf("no %s node written", c.op)
			}
			if c.op == "GRU" && n.attrs["linear_before_reset"] != 1 {
				t.Errorf("GRU linear_before_reset = %v, want 1", n.attrs["linear_before_reset"])
			}
			w, r, b := graph.Float64s(g.consts[n.inputs[1]]), graph.Float64s(g.consts[n.inputs[2]]), graph.Float64s(g.consts[n.inputs[3]])
			wih, whh := graph.Float64s(ps.Value(c.name+".weight_ih")), graph.Float64s(ps.Value(c.name+".weight_hh"))
			bih, bhh := graph.Float64s(ps.Value(c.name+".bias_ih")), graph.Float64s(ps.Value(c.name+".bias_hh"))
			gh := len(c.order) * hidden
			for k, src := range c.order {
				block := func(v []float64, cols, i int) []float64 { return v[i*hidden*cols : (i+1)*hidden*cols] }
				if !slices.Equal(block(w, in, k), block(wih, in, src)) || !slices.Equal(block(r, hidden, k), block(whh, hidden, src)) {
					t.Errorf("ONNX gate block %d does not hold weight block %d", k, src)
				}
				if !slices.Equal(block(b, 1, k), block(bih, 1, src)) || !slices.Equal(block(b[gh:], 1, k), block(bhh, 1, src)) {
					t.Errorf("ONNX bias block %d does not hold bias block %d", k, src)
				}
			}
		})
	}
}

// TestParameterlessExport: each layer without parameters writes its one ONNX operator.
func TestParameterlessExport(t *testing.T) {
	x := nodes.ONNXValue{Name: "x", Dtype: tensor.Float32, Shape: []int{nodes.ONNXBatch, 2, 3, 4}}
	for _, c := range []struct {
		name  string
		f     nodes.Layer
		op    string
		attr  string
		value any
		shape []int
	}{
		{"relu", nodes.ReLU{}, "Relu", "", nil, x.Shape},
		{"leakyrelu", nodes.LeakyReLU{Slope: 0.25}, "LeakyRelu", "alpha", 0.25, x.Shape},
		{"tanh", nodes.Tanh{}, "Tanh", "", nil, x.Shape},
		{"sigmoid", nodes.Sigmoid{}, "Sigmoid", "", nil, x.Shape},
		{"softmax", nodes.Softmax{}, "Softmax", "axis", -1, x.Shape},
		{"logsoftmax", nodes.LogSoftmax{}, "LogSoftmax", "axis", -1, x.Shape},
		{"flatten", nodes.Flatten{}, "Flatten", "axis", 1, []int{nodes.ONNXBatch, 24}},
		{"reshape", nodes.Reshape(-1, 6, 4), "Reshape", "", nil, []int{nodes.ONNXBatch, 6, 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newRecorder(graph.NewParams())
			y, err := c.f.(nodes.Exporter).ExportONNX(g, x)
			if err != nil {
				t.Fatal(err)
			}
			if len(g.nodes) != 1 || g.nodes[0].op != c.op {
				t.Fatalf("wrote %v, want one %s node", g.nodes, c.op)
			}
			if c.attr != "" && g.nodes[0].attrs[c.attr] != c.value {
				t.Errorf("%s = %v, want %v", c.attr, g.nodes[0].attrs[c.attr], c.value)
			}
			if !slices.Equal(y.Shape, c.shape) {
				t.Errorf("output shape %v, want %v", y.Shape, c.shape)
			}
			if c.op == "Reshape" {
				want := []int64{0}
				for _, d := range c.shape[1:] {
					want = append(want, int64(d))
				}
				if got := g.consts[g.nodes[0].inputs[1]].Data().([]int64); !slices.Equal(got, want) {
					t.Errorf("target shape %v, want %v", got, want)
				}
			}
		})
	}
}
