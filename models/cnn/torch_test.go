package cnn_test

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
)

// torchCNN is testdata/torch_smallcnn8.json, written with torch_smallcnn8.safetensors by
// bench/interop/torch_interop.py --write: the W1 net for 8x8 images trained by PyTorch on the
// built-in digits, and PyTorch's logits on their test set.
type torchCNN struct {
	Torch         string `json:"torch"`
	Normalization struct {
		Mean []float64 `json:"mean"`
		Std  []float64 `json:"std"`
	} `json:"normalization"`
	TestAccuracy   float64   `json:"test_accuracy"`
	Classes        []int     `json:"classes"`
	Logits         []float64 `json:"logits"`          // (360, 10), float32 values
	Logits64Images int       `json:"logits64_images"` // the first images, in float64
	Logits64       []float64 `json:"logits64"`
}

const torchCNNWeights = "testdata/torch_smallcnn8.safetensors"

func readTorchCNN(t *testing.T) *torchCNN {
	t.Helper()
	b, err := os.ReadFile("testdata/torch_smallcnn8.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref torchCNN
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return &ref
}

// torchDigits returns the built-in digits' test set normalised with the reference's
// statistics, checking them against the training set's first.
func torchDigits(t *testing.T, ref *torchCNN) *data.ImageSet {
	t.Helper()
	train, test := digits(t)
	stats, err := data.ChannelStats(train)
	if err != nil {
		t.Fatal(err)
	}
	norm := data.Normalization{Mean: ref.Normalization.Mean, Std: ref.Normalization.Std}
	for i, v := range [][2]float64{{stats.Mean[0], norm.Mean[0]}, {stats.Std[0], norm.Std[0]}} {
		if math.Abs(v[0]-v[1]) > 1e-12*math.Abs(v[1]) {
			t.Fatalf("ChannelStats %d: unroll %v, numpy %v", i, v[0], v[1])
		}
	}
	if test, err = test.Normalize(norm); err != nil {
		t.Fatal(err)
	}
	return test
}

// logitsOf runs the first n images of set (already normalised) through net in one graph
// and returns its logits. The images are the float32 values the batches give, converted to
// float64 for a float64 net, as PyTorch's model.double() reads them.
func logitsOf(t *testing.T, ps *graph.Params, net interface {
	Forward(*graph.Builder, *gorgonia.Node) (*gorgonia.Node, error)
}, set *data.ImageSet, n int) []float64 {
	t.Helper()
	it, err := data.NewImageBatches(set.Head(n), n)
	if err != nil {
		t.Fatal(err)
	}
	batch, _ := it.Pass().Next()
	x := batch.X
	if ps.Dtype() == tensor.Float64 {
		x = tensor.New(tensor.WithShape(x.Shape()...), tensor.WithBacking(graph.Float64s(x)))
	}
	b := graph.NewBuilder(ps, graph.Eval)
	in, err := b.Input("x", x.Shape()...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := net.Forward(b, in)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"logits": out})
	if err != nil {
		t.Fatal(err)
	}
	res, err := prog.Run(graph.Feeds{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	return graph.Float64s(res["logits"])
}

// maxLogitErr returns the largest |got - want| / max(1, |want|) and where it is.
func maxLogitErr(got, want []float64) (float64, int) {
	worst, at := 0.0, -1
	for i := range want {
		if e := math.Abs(got[i]-want[i]) / math.Max(1, math.Abs(want[i])); e > worst || at < 0 {
			worst, at = e, i
		}
	}
	return worst, at
}

// A state_dict that PyTorch wrote, the W1 net trained on the 8x8 digits, loads with
// LoadWeights into cnn.NewSmallCNN(ps, cnn.Input(1, 8, 8)) and gives PyTorch's logits on the
// 360 test images: within 1e-5 · max(1, |logit|) in float32 (two implementations' float32
// rounding, with sums in different orders; about 2e-6 is seen), and within 1e-12 in float64
// on the first 32 images (the same float32 weights and inputs, computed in float64 on both
// sides; about 2e-15 is seen). Through the classifier, the predicted classes and the test
// accuracy are PyTorch's.
func TestLoadWeightsPyTorchSmallCNN(t *testing.T) {
	ref := readTorchCNN(t)
	test := torchDigits(t, ref)
	for _, c := range []struct {
		dt     tensor.Dtype
		n      int
		want   []float64
		relTol float64
	}{
		{tensor.Float32, test.Len(), ref.Logits, 1e-5},
		{tensor.Float64, ref.Logits64Images, ref.Logits64, 1e-12},
	} {
		ps := graph.NewParams(graph.Dtype(c.dt))
		net, err := cnn.NewSmallCNN(ps, cnn.Input(1, 8, 8))
		if err != nil {
			t.Fatal(err)
		}
		clf, err := cnn.NewClassifier(net)
		if err != nil {
			t.Fatal(err)
		}
		if err := clf.LoadWeights(torchCNNWeights); err != nil {
			t.Fatal(err)
		}
		got := logitsOf(t, ps, net, test, c.n)
		if len(got) != len(c.want) {
			t.Fatalf("%v: %d logits, PyTorch %d", c.dt, len(got), len(c.want))
		}
		worst, at := maxLogitErr(got, c.want)
		t.Logf("%v: %d logits, largest difference from PyTorch %.2g (relative to max(1, |logit|))", c.dt, len(got), worst)
		if worst > c.relTol {
			t.Errorf("%v: logit %d (image %d, class %d) is %v, PyTorch %v", c.dt, at, at/10, at%10, got[at], c.want[at])
		}
		if c.dt != tensor.Float32 {
			continue
		}
		classes, _, err := clf.Predict(test)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(classes, ref.Classes) {
			t.Errorf("predicted classes differ from PyTorch's")
		}
		ev, err := clf.Evaluate(test)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Accuracy != ref.TestAccuracy {
			t.Errorf("test accuracy %v, PyTorch %v", ev.Accuracy, ref.TestAccuracy)
		}
	}
}

// A PyTorch file that lacks a parameter, or holds one of another shape, is refused with an
// error naming it, and the classifier keeps its weights.
func TestLoadWeightsPyTorchMismatch(t *testing.T) {
	ps := graph.NewParams(graph.Seed(1))
	net, err := cnn.NewSmallCNN(ps) // 28x28 input: fc1 takes 3136 values, the file's 256
	if err != nil {
		t.Fatal(err)
	}
	clf, err := cnn.NewClassifier(net)
	if err != nil {
		t.Fatal(err)
	}
	before := graph.Float64s(ps.Value("fc1.weight"))
	err = clf.LoadWeights(torchCNNWeights)
	if err == nil || !strings.Contains(err.Error(), "fc1.weight has shape (128, 256) in the file, (128, 3136) in the model") {
		t.Fatalf("got %v, want an error naming fc1.weight's shapes", err)
	}
	if !slices.Equal(before, graph.Float64s(ps.Value("fc1.weight"))) {
		t.Error("a refused file changed the weights")
	}
}
