package onnx_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/models/rnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/onnx"
)

// customModel is a nodes.Model a user wrote, without an export rule.
type customModel struct{ ps *graph.Params }

func (m customModel) Name() string          { return "mine" }
func (m customModel) InputShape() []int     { return []int{1, 4, 4} }
func (m customModel) Params() *graph.Params { return m.ps }
func (m customModel) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	return nodes.Flatten{}.Forward(b, x)
}

// TestExportModelErrors: what cannot be exported is an error that names the model or the
// layer, and no file is written.
func TestExportModelErrors(t *testing.T) {
	ps := graph.NewParams(graph.Seed(1))
	withCustom := nodes.NewSequential(ps, "net", 4).Add(nodes.NewDense(ps, "fc", 4, 4)).Add(custom{"mine"})
	broken := nodes.NewSequential(ps, "broken", 4).Add(nodes.NewDense(ps, "fc2", 0, 4))
	masked, err := rnn.NewNet(graph.NewParams(graph.Seed(1)), "tagger", rnn.GRU, 3, 4, 2, rnn.Masked())
	if err != nil {
		t.Fatal(err)
	}
	clf, err := cnn.NewClassifier(customModel{graph.NewParams(graph.Seed(1))})
	if err != nil {
		t.Fatal(err)
	}
	w1, err := cnn.NewSmallCNN(graph.NewParams(graph.Seed(1)))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		model nodes.ModelExporter
		opts  []onnx.Option
		want  string
	}{
		{"custom layer", withCustom, nil, "onnx export net: net: layer 1 (onnx_test.custom) has no ONNX export rule"},
		{"broken sequential", broken, nil, "broken: layer 0: fc2: dense sizes must be positive"},
		{"empty sequential", nodes.NewSequential(ps, "empty", 4), nil, "onnx export empty: empty: no layers"},
		{"masked net", masked, nil, "tagger: a masked net cannot be exported to ONNX"},
		{"classifier of a custom model", clf, nil, "classifier: mine (onnx_test.customModel) has no ONNX export rule"},
		{"nil model", nil, nil, "onnx export: nil model"},
		{"nil sequential", (*nodes.Sequential)(nil), nil, "onnx export: nil *nodes.Sequential"},
		{"opset too old", w1, []onnx.Option{onnx.OpsetVersion(12)}, "opset 12: need 13 to 17"},
		{"opset too new", w1, []onnx.Option{onnx.OpsetVersion(18)}, "opset 18: need 13 to 17"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.onnx")
			err := onnx.Export(c.model, path, c.opts...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("a file was written: %v", err)
			}
		})
	}
}
