package onnx_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/onnx"
	"github.com/unroll-ml/unroll/onnx/internal/onnxpb"
)

var mnist struct {
	once        sync.Once
	train, test *data.ImageSet
	err         error
}

// mnistSets returns the built-in MNIST, which records MNIST's normalisation.
func mnistSets(t *testing.T) (train, test *data.ImageSet) {
	t.Helper()
	mnist.once.Do(func() { mnist.train, mnist.test, mnist.err = builtin.MNIST() })
	if mnist.err != nil {
		t.Fatal(mnist.err)
	}
	return mnist.train, mnist.test
}

// trainedClassifier trains a classifier of net for 10 steps of 64 MNIST images, normalised as
// set records (none for a set that records none).
func trainedClassifier(t *testing.T, net *nodes.Sequential, train *data.ImageSet) *cnn.Classifier {
	t.Helper()
	clf, err := cnn.NewClassifier(net)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clf.Fit(train.Head(640), graph.Epochs(1), graph.Batch(64)); err != nil {
		t.Fatal(err)
	}
	return clf
}

// TestClassifiersAgainstONNXRuntime trains the W1 net and LeNet-5 (and LeNet-5's classic form,
// sigmoid and average pooling, on images without normalisation) for a few steps, exports each
// classifier with onnx.Export and runs the file in ONNX Runtime on raw test images
// (p/255) for batch sizes 1 and 3: its logits equal unroll's (the model on the normalised
// images), and their softmax equals Classifier.Predict's probabilities. W1 is also written for
// opset 13.
func TestClassifiersAgainstONNXRuntime(t *testing.T) {
	requireRuntime(t)
	train, test := mnistSets(t)
	raw, err := train.Normalize(data.Normalization{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		make   func(*graph.Params) (*nodes.Sequential, error)
		train  *data.ImageSet
		opsets []int
	}{
		{"w1", func(ps *graph.Params) (*nodes.Sequential, error) { return cnn.NewSmallCNN(ps) }, train, []int{onnx.Opset, 13}},
		{"lenet5", func(ps *graph.Params) (*nodes.Sequential, error) { return cnn.NewLeNet5(ps) }, train, []int{onnx.Opset}},
		{"lenet5_classic_raw", func(ps *graph.Params) (*nodes.Sequential, error) { return cnn.NewLeNet5(ps, cnn.Classic()) }, raw, []int{onnx.Opset}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			net, err := c.make(graph.NewParams(graph.Seed(1)))
			if err != nil {
				t.Fatal(err)
			}
			clf := trainedClassifier(t, net, c.train)
			testSet, err := test.Normalize(c.train.Norm)
			if err != nil {
				t.Fatal(err)
			}
			for _, opset := range c.opsets {
				path := filepath.Join(t.TempDir(), fmt.Sprintf("%s_opset%d.onnx", c.name, opset))
				if err := onnx.Export(clf, path, onnx.OpsetVersion(opset)); err != nil {
					t.Fatal(err)
				}
				checkModel(t, path)
				checkOpset(t, path, opset)
				compareClassifier(t, clf, testSet, path)
			}
		})
	}
}

// compareClassifier runs the file at path on the first image of set (batch 1) and on the first
// three (batch 3) and compares its logits with unroll's.
func compareClassifier(t *testing.T, clf *cnn.Classifier, set *data.ImageSet, path string) {
	t.Helper()
	sizes := []int{1, 3}
	var runs []feeds
	for _, n := range sizes {
		s := set.Head(n)
		var v []float64
		for i := range n {
			for _, x := range s.Float32s(i) {
				v = append(v, float64(x))
			}
		}
		runs = append(runs, feeds{"images": graph.NewTensor(tensor.Float32, []int{n, s.Channels(), s.H, s.W}, v)})
	}
	got := runORT(t, path, runs)
	for i, n := range sizes {
		s := set.Head(n)
		it, err := data.NewImageBatches(s, n) // normalised as the set records
		if err != nil {
			t.Fatal(err)
		}
		batch, _ := it.Pass().Next()
		out := forward(t, clf.Params(), feeds{"x": batch.X}, func(b *graph.Builder, xs map[string]*gorgonia.Node) (map[string]*gorgonia.Node, error) {
			y, err := clf.Model().Forward(b, xs["x"])
			return map[string]*gorgonia.Node{"logits": y}, err
		})
		what := fmt.Sprintf("%s: logits batch %d", filepath.Base(path), n)
		assertClose(t, what, got[i]["logits"], out["logits"])
		_, probs, err := clf.Predict(s)
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, what+" softmax", softmaxRows(got[i]["logits"]), rowsTensor(probs))
	}
}

// softmaxRows returns the softmax of each row of x (B, K).
func softmaxRows(x *tensor.Dense) *tensor.Dense {
	v, k := graph.Float64s(x), x.Shape()[1]
	out := make([]float64, len(v))
	for r := 0; r < len(v)/k; r++ {
		m := math.Inf(-1)
		for _, z := range v[r*k : (r+1)*k] {
			m = math.Max(m, z)
		}
		sum := 0.0
		for j := r * k; j < (r+1)*k; j++ {
			out[j] = math.Exp(v[j] - m)
			sum += out[j]
		}
		for j := r * k; j < (r+1)*k; j++ {
			out[j] /= sum
		}
	}
	return graph.NewTensor(tensor.Float64, x.Shape(), out)
}

// rowsTensor stacks rows into a (len(rows), K) tensor.
func rowsTensor(rows [][]float64) *tensor.Dense {
	var v []float64
	for _, r := range rows {
		v = append(v, r...)
	}
	return graph.NewTensor(tensor.Float64, []int{len(rows), len(rows[0])}, v)
}

// readModel reads the ONNX file path into its protobuf message.
func readModel(t *testing.T, path string) *onnxpb.ModelProto {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return &m
}

// checkOpset checks the file's operator set and IR versions.
func checkOpset(t *testing.T, path string, opset int) {
	t.Helper()
	m := readModel(t, path)
	ir := int64(8)
	if opset <= 14 {
		ir = 7
	}
	if len(m.OpsetImport) != 1 || m.OpsetImport[0].GetVersion() != int64(opset) || m.GetIrVersion() != ir {
		t.Fatalf("%s: opset %v, IR version %d; want opset %d, IR %d", filepath.Base(path), m.OpsetImport, m.GetIrVersion(), opset, ir)
	}
}

// TestClassifierExportNormalization: a classifier trained on normalised images writes the
// normalisation into the graph (Sub and Div before the first layer) and records it in the
// file's metadata; one trained on raw images writes neither node.
func TestClassifierExportNormalization(t *testing.T) {
	for _, c := range []struct {
		name string
		norm data.Normalization
		want string
	}{
		{"mnist", data.MNISTNormalization(), "input images float32 (batch, 1, 8, 8)\nSub(images, normalize.mean) -> normalize.centered\nDiv(normalize.centered, normalize.std) -> normalize\nConv(normalize, "},
		{"raw", data.Normalization{}, "input images float32 (batch, 1, 8, 8)\nConv(images, "},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := graph.NewParams(graph.Seed(1))
			net := nodes.NewSequential(ps, "tiny", 1, 8, 8).
				Add(nodes.NewConv2D(ps, "conv", 1, 2, 3)).Add(nodes.Flatten{}).Add(nodes.NewDense(ps, "fc", 2*6*6, 3))
			if err := net.Err(); err != nil {
				t.Fatal(err)
			}
			clf, err := cnn.NewClassifier(net)
			if err != nil {
				t.Fatal(err)
			}
			set := &data.ImageSet{N: 4, C: 1, H: 8, W: 8, Classes: 3, Pixels: make([]uint8, 4*64), Labels: []int{0, 1, 2, 0}}
			if set, err = set.Normalize(c.norm); err != nil {
				t.Fatal(err)
			}
			if _, err := clf.Fit(set, graph.Batch(2)); err != nil {
				t.Fatal(err)
			}
			m, err := onnx.Convert(clf)
			if err != nil {
				t.Fatal(err)
			}
			if s := m.String(); len(s) < len(c.want) || s[:len(c.want)] != c.want {
				t.Fatalf("the graph starts\n%s\nwant\n%s", s, c.want)
			}
			path := filepath.Join(t.TempDir(), "clf.onnx")
			if err := m.Save(path); err != nil {
				t.Fatal(err)
			}
			meta := readModel(t, path).GetMetadataProps()
			if len(meta) != 1 || meta[0].GetKey() != "normalization" || meta[0].GetValue() != c.norm.String() {
				t.Fatalf("metadata %v, want normalization %q", meta, c.norm.String())
			}
		})
	}
}
