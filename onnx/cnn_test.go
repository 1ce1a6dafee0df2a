package onnx_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/onnx"
)

// smallCNN is a CNN written by hand from layers, on 1x8x8 images with 10 classes.
func smallCNN(ps *graph.Params) ([]nodes.Layer, error) {
	conv1, err := nodes.NewConv2D(ps, "conv1", 1, 4, 3, nodes.Padding(1))
	if err != nil {
		return nil, err
	}
	bn1, err := nodes.NewBatchNorm2D(ps, "bn1", 4)
	if err != nil {
		return nil, err
	}
	pool1, err := nodes.NewMaxPool2D("pool1", 2)
	if err != nil {
		return nil, err
	}
	conv2, err := nodes.NewConv2D(ps, "conv2", 4, 6, 3, nodes.SamePadding(), nodes.FusedReLU())
	if err != nil {
		return nil, err
	}
	drop, err := nodes.NewDropout("drop", 0.3)
	if err != nil {
		return nil, err
	}
	fc, err := nodes.NewDense(ps, "fc", 6*4*4, 10)
	if err != nil {
		return nil, err
	}
	return []nodes.Layer{conv1, bn1, nodes.ReLU{}, pool1, conv2, nodes.Flatten{}, drop, fc, nodes.LogSoftmax{}}, nil
}

// TestCNNAgainstONNXRuntime exports a small CNN (conv, batch norm, relu, max pool, conv with
// fused relu, flatten, dropout, dense, log-softmax) as one file and compares ONNX Runtime's
// log-probabilities with unroll's for batch sizes 1 and 3.
func TestCNNAgainstONNXRuntime(t *testing.T) {
	requireRuntime(t)
	ps := graph.NewParams(graph.Seed(4))
	layers, err := smallCNN(ps)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 4))
	scrambleParams(ps, r)
	m := onnx.NewModel(ps, "cnn")
	x, err := m.Input("images", tensor.Float32, nodes.ONNXBatch, 1, 8, 8)
	if err != nil {
		t.Fatal(err)
	}
	y, err := m.Layers(x, layers...)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Output("log_probs", y); err != nil {
		t.Fatal(err)
	}
	path := save(t, m, "cnn")

	var runs []feeds
	var wants []*tensor.Dense
	for _, batch := range []int{1, 3} {
		in := randomTensor(r, batch, 1, 8, 8)
		out := forward(t, ps, feeds{"images": in}, func(b *graph.Builder, xs map[string]*gorgonia.Node) (map[string]*gorgonia.Node, error) {
			h := xs["images"]
			for _, l := range layers {
				var err error
				if h, err = l.Forward(b, h); err != nil {
					return nil, err
				}
			}
			return map[string]*gorgonia.Node{"y": h}, nil
		})
		runs, wants = append(runs, feeds{"images": in}), append(wants, out["y"])
	}
	got := runORT(t, path, runs)
	for i, batch := range []int{1, 3} {
		assertClose(t, fmt.Sprintf("log_probs batch %d", batch), got[i]["log_probs"], wants[i])
	}
}

// TestSaveIsAtomicAndDeterministic writes the same model twice over one path: the bytes are
// the same, and no temporary file is left beside it.
func TestSaveIsAtomicAndDeterministic(t *testing.T) {
	ps := graph.NewParams(graph.Seed(4))
	layers, err := smallCNN(ps)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "cnn.onnx")
	var files [][]byte
	for i := 0; i < 2; i++ {
		m := onnx.NewModel(ps, "cnn")
		x, err := m.Input("images", tensor.Float32, nodes.ONNXBatch, 1, 8, 8)
		if err != nil {
			t.Fatal(err)
		}
		y, err := m.Layers(x, layers...)
		if err == nil {
			err = m.Output("log_probs", y)
		}
		if err == nil {
			err = m.Save(path)
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if string(files[0]) != string(files[1]) || len(files[0]) == 0 {
		t.Fatalf("two saves of one model differ (%d and %d bytes)", len(files[0]), len(files[1]))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("the folder holds %d files after two saves, want 1", len(entries))
	}
}
