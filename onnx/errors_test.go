package onnx_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/onnx"
)

// custom is a layer a user wrote, without an export rule.
type custom struct{ name string }

func (c custom) Name() string { return c.name }
func (c custom) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.Square(x)
}

// customCell is a recurrent cell a user wrote, without an export rule.
type customCell struct{}

func (customCell) Step(*graph.Builder, *gorgonia.Node, nodes.State) (nodes.State, error) {
	return nodes.State{}, nil
}
func (customCell) InputSize() int  { return 3 }
func (customCell) HiddenSize() int { return 4 }
func (customCell) HasCell() bool   { return false }

func TestExportErrors(t *testing.T) {
	ps := graph.NewParams(graph.Seed(1))
	fc, err := nodes.NewDense(ps, "fc", 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	lstm, err := nodes.NewLSTMCell(ps, "lstm", 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	gru, err := nodes.NewGRUCell(ps, "gru", 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	twoOps := nodes.Func(func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
		y, err := nodes.ReLU{}.Forward(b, x)
		if err != nil {
			return nil, err
		}
		return nodes.Tanh{}.Forward(b, y)
	})
	square := nodes.Func(func(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) { return gorgonia.Square(x) })
	x4 := []int{nodes.ONNXBatch, 4}
	seq := []int{nodes.ONNXBatch, 5, 3}
	cases := []struct {
		name  string
		shape []int
		do    func(m *onnx.Model, x nodes.ONNXValue) error
		want  string
	}{
		{"custom layer", x4, layer(custom{"mine"}), "mine: no ONNX export rule: onnx_test.custom does not implement nodes.Exporter"},
		{"custom layer without a name", x4, layer(custom{}), "layer onnx_test.custom: no ONNX export rule"},
		{"nil layer", x4, layer(nil), "nil layer"},
		{"nil dense", x4, layer((*nodes.Dense)(nil)), "nil *nodes.Dense layer"},
		{"func of two ops", x4, layer(twoOps), "no ONNX export rule: nodes.Func does not implement nodes.Exporter"},
		{"func of another op", x4, layer(square), "no ONNX export rule: nodes.Func does not implement nodes.Exporter"},
		{"dense width", []int{nodes.ONNXBatch, 5}, layer(fc), "fc: expects 4 input features, input has 5"},
		{"reshape moving the batch", []int{nodes.ONNXBatch, 2, 6}, layer(nodes.Reshape(-1, 6)), "does not keep the batch axis first"},
		{"custom cell", seq, recurrent([][]nodes.Cell{{customCell{}}}, false), "cell onnx_test.customCell has no ONNX export rule"},
		{"mixed cells", seq, recurrent([][]nodes.Cell{{lstm, gru}}, false), "layer 0 cell 1 is gru, layer 0 is lstm"},
		{"wrong initial state", seq, recurrent([][]nodes.Cell{{lstm}}, true), "initial state h0 must be [1 -1 4]"},
		{"unknown output", x4, func(m *onnx.Model, x nodes.ONNXValue) error { return m.Output("y", nodes.ONNXValue{Name: "nope"}) }, `no value called "nope"`},
		{"unknown node input", x4, func(m *onnx.Model, x nodes.ONNXValue) error {
			_, err := m.Node("Relu", []string{"nope"}, []string{"y"})
			return err
		}, `Relu node y: input "nope" is not a value of the graph`},
		{"attribute type", x4, func(m *onnx.Model, x nodes.ONNXValue) error {
			_, err := m.Node("Relu", []string{x.Name}, []string{"y"}, nodes.ONNXAttr{Name: "a", Value: struct{}{}})
			return err
		}, "attribute a: values of type struct {} are not written"},
		{"taken input name", x4, func(m *onnx.Model, x nodes.ONNXValue) error {
			_, err := m.Input("x", tensor.Float32, 1)
			return err
		}, "onnx input x: the name is taken"},
		{"bad input shape", x4, func(m *onnx.Model, x nodes.ONNXValue) error {
			_, err := m.Input("z", tensor.Float32, 0, 3)
			return err
		}, "sizes must be positive"},
		{"float64 input", x4, func(m *onnx.Model, x nodes.ONNXValue) error {
			_, err := m.Input("z", tensor.Float64, 3)
			return err
		}, "only float32 and int64 values are written"},
		{"no outputs", x4, func(m *onnx.Model, x nodes.ONNXValue) error { _, err := m.Marshal(); return err }, "no outputs declared"},
		{"missing folder", x4, func(m *onnx.Model, x nodes.ONNXValue) error {
			if err := m.Output("", x); err != nil {
				return err
			}
			return m.Save(filepath.Join(t.TempDir(), "no", "such", "m.onnx"))
		}, "no such file or directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := onnx.NewModel(ps, "errors")
			x, err := m.Input("x", tensor.Float32, c.shape...)
			if err != nil {
				t.Fatal(err)
			}
			err = c.do(m, x)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func layer(l nodes.Layer) func(*onnx.Model, nodes.ONNXValue) error {
	return func(m *onnx.Model, x nodes.ONNXValue) error {
		_, err := m.Layer(l, x)
		return err
	}
}

// recurrent exports cells reading x; with badState, with an initial state of the wrong batch
// axis.
func recurrent(cells [][]nodes.Cell, badState bool) func(*onnx.Model, nodes.ONNXValue) error {
	return func(m *onnx.Model, x nodes.ONNXValue) error {
		var h0 nodes.ONNXValue
		if badState {
			var err error
			if h0, err = m.Input("h0", tensor.Float32, 1, 2, 4); err != nil {
				return err
			}
		}
		_, err := nodes.ExportRecurrentONNX(m, cells, x, h0, nodes.ONNXValue{})
		return err
	}
}

// TestNonFiniteParameter: a NaN weight is an error naming the parameter, not a file.
func TestNonFiniteParameter(t *testing.T) {
	ps := graph.NewParams(graph.Seed(1))
	fc, err := nodes.NewDense(ps, "fc", 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	ps.Value("fc.weight").Data().([]float32)[3] = float32(math.NaN())
	m := onnx.NewModel(ps, "nan")
	x, err := m.Input("x", tensor.Float32, nodes.ONNXBatch, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Layer(fc, x)
	if err == nil || !strings.Contains(err.Error(), "fc.weight: element 3 is NaN") {
		t.Fatalf("error %v, want one naming fc.weight's element 3", err)
	}
}
