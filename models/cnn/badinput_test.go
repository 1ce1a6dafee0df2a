package cnn_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/solvers"
)

// noPanic runs f and turns a panic into an error, so that a table test reports the case.
func noPanic(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// TestClassifierRefusesBadInput gives the nets, the classifier's training, evaluation,
// prediction and checkpoint loading wrong settings, wrong data and wrong files: each returns
// an error naming the culprit, none panics, and no NaN becomes a prediction.
func TestClassifierRefusesBadInput(t *testing.T) {
	train, _ := mnist(t)
	small := train.Head(64)
	newLeNet := func(batch int) (*cnn.Classifier, error) {
		ps := graph.NewParams(graph.Seed(1))
		net, err := cnn.NewLeNet5(ps)
		if err != nil {
			return nil, err
		}
		return cnn.NewClassifier(ps, net, solvers.NewAdam(1e-3), cnn.Batch(batch))
	}
	clf, err := newLeNet(32)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "lenet.safetensors")
	if err := clf.Save(ckpt); err != nil {
		t.Fatal(err)
	}
	images := func(shape []int, fill float64) *tensor.Dense {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float64, n)
		for i := range v {
			v[i] = fill
		}
		return graph.NewTensor(tensor.Float32, shape, v)
	}
	tiny := &data.ImageSet{N: 8, H: 20, W: 20, Classes: 10, Pixels: make([]uint8, 8*400), Labels: make([]int, 8)}

	cases := []struct {
		name string
		want string
		f    func() error
	}{
		{"lenet with dropout 1", "lenet5: dropout probability must be in [0, 1), got 1", func() error {
			_, err := cnn.NewLeNet5(graph.NewParams(), cnn.Dropout(1))
			return err
		}},
		{"w1 with negative dropout", "w1: dropout probability must be in [0, 1), got -0.5", func() error {
			_, err := cnn.NewW1(graph.NewParams(), cnn.Dropout(-0.5))
			return err
		}},
		{"w1 with NaN dropout", "w1: dropout probability must be in [0, 1), got NaN", func() error {
			_, err := cnn.NewW1(graph.NewParams(), cnn.Dropout(math.NaN()))
			return err
		}},
		{"lenet of no classes", "lenet5: fc3: dense sizes must be positive, got in=84 out=0", func() error {
			_, err := cnn.NewLeNet5(graph.NewParams(), cnn.Classes(0))
			return err
		}},
		{"w1 on 3x3 images", "w1: input 3x3 is too small", func() error {
			_, err := cnn.NewW1(graph.NewParams(), cnn.Input(1, 3, 3))
			return err
		}},
		{"w1 with no channels", "w1: conv1: channels must be positive, got in=0 out=32", func() error {
			_, err := cnn.NewW1(graph.NewParams(), cnn.Input(0, 28, 28))
			return err
		}},
		{"classifier without a solver", "classifier: needs parameters, a model and a solver", func() error {
			ps := graph.NewParams()
			net, _ := cnn.NewLeNet5(ps)
			_, err := cnn.NewClassifier(ps, net, nil)
			return err
		}},
		{"classifier batch 0", "classifier: batch sizes must be positive, got 0 and 500", func() error {
			_, err := newLeNet(0)
			return err
		}},
		{"fit on nothing", "classifier: the training set is empty", func() error {
			_, err := clf.Fit(small.Head(0))
			return err
		}},
		{"fit on 20x20 images", "classifier: the training set has 20x20 images, lenet5 expects 1x28x28", func() error {
			_, err := clf.Fit(tiny)
			return err
		}},
		{"fit on fewer images than a batch", "fit: image batches: batch size 32 exceeds the 10 images and DropLast leaves no batch", func() error {
			_, err := clf.Fit(small.Head(10))
			return err
		}},
		{"fit for 0 epochs", "fit: epochs must be positive (got 0) and max steps non-negative (got 0)", func() error {
			_, err := clf.Fit(small, cnn.Epochs(0))
			return err
		}},
		{"fit with negative max steps", "max steps non-negative (got -3)", func() error {
			_, err := clf.Fit(small, cnn.MaxSteps(-3))
			return err
		}},
		{"evaluate on nothing", "classifier: the evaluation set is empty", func() error {
			_, err := clf.Evaluate(nil)
			return err
		}},
		{"predict on a rank-3 tensor", "predict: images must be (batch, channels, height, width)", func() error {
			_, _, err := clf.Predict(images([]int{2, 28, 28}, 0))
			return err
		}},
		{"predict on nil", "predict: images must be (batch, channels, height, width)", func() error {
			_, _, err := clf.Predict(nil)
			return err
		}},
		{"predict on 20x20 images", `predict: graph: input "x" has shape (2, 1, 20, 20), want (2, 1, 28, 28)`, func() error {
			_, _, err := clf.Predict(images([]int{2, 1, 20, 20}, 0))
			return err
		}},
		{"predict on NaN pixels", `predict: graph: input "x" holds NaN at element 0: inputs must be finite`, func() error {
			_, _, err := clf.Predict(images([]int{1, 1, 28, 28}, math.NaN()))
			return err
		}},
		{"predict on infinite pixels", `predict: graph: input "x" holds +Inf at element 0`, func() error {
			_, _, err := clf.Predict(images([]int{1, 1, 28, 28}, math.Inf(1)))
			return err
		}},
		{"feature maps of a batch", "feature maps: want one image of shape (1, 1, 28, 28)", func() error {
			_, err := clf.FeatureMaps(images([]int{2, 1, 28, 28}, 0))
			return err
		}},
		{"load a missing file", "missing.safetensors: no such file or directory", func() error {
			return clf.Load(filepath.Join(dir, "missing.safetensors"))
		}},
		{"load an empty file", "file of 0 bytes is too short for a header", func() error {
			p := filepath.Join(dir, "empty")
			os.WriteFile(p, nil, 0o644)
			return clf.Load(p)
		}},
		{"load another batch size", "was trained with batch 32, this classifier uses 16", func() error {
			other, err := newLeNet(16)
			if err != nil {
				return err
			}
			return other.Load(ckpt)
		}},
		{"load into another net", `holds a "lenet5" model, not "w1"`, func() error {
			ps := graph.NewParams()
			net, _ := cnn.NewW1(ps)
			w1, err := cnn.NewClassifier(ps, net, solvers.NewAdam(1e-3), cnn.Batch(32))
			if err != nil {
				return err
			}
			return w1.Load(ckpt)
		}},
		{"load with another solver", `solver state is from "*solvers.Adam", the model uses *solvers.SGD`, func() error {
			ps := graph.NewParams()
			net, _ := cnn.NewLeNet5(ps)
			sgd, err := cnn.NewClassifier(ps, net, solvers.NewSGD(0.1), cnn.Batch(32))
			if err != nil {
				return err
			}
			return sgd.Load(ckpt)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := noPanic(c.f)
			if err == nil || strings.HasPrefix(err.Error(), "panic") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}
