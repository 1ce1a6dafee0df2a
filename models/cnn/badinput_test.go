package cnn_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/nodes"
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

// custom is a model that is no nodes.Sequential: a flatten and a dense layer in a struct.
type custom struct {
	ps *graph.Params
	fc *nodes.Dense
}

func (m *custom) Name() string          { return "custom" }
func (m *custom) InputShape() []int     { return []int{1, 28, 28} }
func (m *custom) Params() *graph.Params { return m.ps }
func (m *custom) Forward(b *graph.Builder, x *gorgonia.Node) (*gorgonia.Node, error) {
	flat, err := nodes.Flatten{}.Forward(b, x)
	if err != nil {
		return nil, err
	}
	return m.fc.Forward(b, flat)
}

// TestClassifierRefusesBadInput gives the nets, the classifier's training, evaluation,
// prediction and checkpoint loading wrong settings, wrong data and wrong files: each returns
// an error naming the culprit, none panics, and no NaN becomes a prediction.
func TestClassifierRefusesBadInput(t *testing.T) {
	train, _ := mnist(t)
	small := train.Head(64)
	newLeNet := func() *cnn.Classifier {
		net, err := cnn.NewLeNet5(graph.NewParams(graph.Seed(1)))
		if err != nil {
			t.Fatal(err)
		}
		return newClassifier(t, net)
	}
	clf := newLeNet()
	fit(t, clf, small, graph.Batch(32), graph.Steps(1))
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "lenet.safetensors")
	if err := clf.SaveCheckpoint(ckpt); err != nil {
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
	rgb := &data.ImageSet{N: 8, C: 3, H: 28, W: 28, Classes: 10, Pixels: make([]uint8, 8*3*784), Labels: make([]int, 8)}
	unstated := &data.ImageSet{N: 2, H: 28, W: 28, Pixels: make([]uint8, 2*784), Labels: []int{3, 12}}
	var cases []badCase
	cases = append(cases, netCases()...)
	cases = append(cases, []badCase{
		{"fit on nothing", "classifier: the training set is empty", func() error {
			_, err := clf.Fit(small.Head(0))
			return err
		}},
		{"fit on 20x20 images", "classifier: the training set has 20x20 images, lenet5 expects 1x28x28", func() error {
			_, err := clf.Fit(tiny)
			return err
		}},
		{"fit on RGB images", "classifier: the training set has images of 3 channels, lenet5 expects 1x28x28", func() error {
			_, err := clf.Fit(rgb)
			return err
		}},
		{"fit on a label beyond the outputs", "classifier: the training set has label 12 at index 1, lenet5 has 10 outputs", func() error {
			_, err := clf.Fit(unstated)
			return err
		}},
		{"fit on fewer images than a batch", "fit: image batches: batch size 32 exceeds the 10 images and DropLast leaves no batch", func() error {
			_, err := newLeNet().Fit(small.Head(10), graph.Batch(32))
			return err
		}},
		{"fit for -1 epochs", "fit: -1 epochs: need at least 1", func() error {
			_, err := clf.Fit(small, graph.Epochs(-1))
			return err
		}},
		{"fit with negative steps", "fit: -3 steps", func() error {
			_, err := clf.Fit(small, graph.Steps(-3))
			return err
		}},
		{"fit with a negative batch", "fit: batch size -1: need at least 1", func() error {
			_, err := newLeNet().Fit(small, graph.Batch(-1))
			return err
		}},
		{"fit with another batch size", "classifier: the run was trained with batch 32, this Fit asks for 16", func() error {
			_, err := clf.Fit(small, graph.Batch(16))
			return err
		}},
		{"fit with a validation set of another kind", "classifier: the validation set is a []int, want a *data.ImageSet", func() error {
			_, err := clf.Fit(small, graph.Validation([]int{1}))
			return err
		}},
		{"evaluate on nothing", "classifier: the evaluation set is empty", func() error {
			_, err := clf.Evaluate(nil)
			return err
		}},
		{"predict on nothing", "classifier: the prediction set is empty", func() error {
			_, _, err := clf.Predict(nil)
			return err
		}},
		{"predict on a rank-3 tensor", "predict: images must be (batch, channels, height, width)", func() error {
			_, _, err := clf.PredictTensor(images([]int{2, 28, 28}, 0))
			return err
		}},
		{"predict on a nil tensor", "predict: images must be (batch, channels, height, width)", func() error {
			_, _, err := clf.PredictTensor(nil)
			return err
		}},
		{"predict on 20x20 images", `predict: graph: input "x" has shape (2, 1, 20, 20), want (2, 1, 28, 28)`, func() error {
			_, _, err := clf.PredictTensor(images([]int{2, 1, 20, 20}, 0))
			return err
		}},
		{"predict on NaN pixels", `predict: graph: input "x" holds NaN at element 0: inputs must be finite`, func() error {
			_, _, err := clf.PredictTensor(images([]int{1, 1, 28, 28}, math.NaN()))
			return err
		}},
		{"predict on infinite pixels", `predict: graph: input "x" holds +Inf at element 0`, func() error {
			_, _, err := clf.PredictTensor(images([]int{1, 1, 28, 28}, math.Inf(1)))
			return err
		}},
		{"feature maps of a batch", "feature maps: want one image of shape (1, 1, 28, 28)", func() error {
			_, err := clf.FeatureMaps(images([]int{2, 1, 28, 28}, 0))
			return err
		}},
		{"feature maps of a model not made of layers", "feature maps: custom is not made of layers", func() error {
			ps := graph.NewParams()
			fc, err := nodes.NewDense(ps, "fc", 784, 10)
			if err != nil {
				return err
			}
			c, err := cnn.NewClassifier(&custom{ps: ps, fc: fc})
			if err != nil {
				return err
			}
			_, err = c.FeatureMaps(images([]int{1, 1, 28, 28}, 0))
			return err
		}},
	}...)
	cases = append(cases, checkpointCases(t, dir, ckpt, newLeNet)...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := noPanic(c.f)
			if err == nil || strings.HasPrefix(err.Error(), "panic") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}

type badCase struct {
	name string
	want string
	f    func() error
}

// netCases are the nets' and NewClassifier's bad settings.
func netCases() []badCase {
	return []badCase{
		{"lenet with dropout 1", "lenet5: dropout probability must be in [0, 1), got 1", func() error {
			_, err := cnn.NewLeNet5(graph.NewParams(), cnn.Dropout(1))
			return err
		}},
		{"smallcnn with negative dropout", "smallcnn: dropout probability must be in [0, 1), got -0.5", func() error {
			_, err := cnn.NewSmallCNN(graph.NewParams(), cnn.Dropout(-0.5))
			return err
		}},
		{"smallcnn with NaN dropout", "smallcnn: dropout probability must be in [0, 1), got NaN", func() error {
			_, err := cnn.NewSmallCNN(graph.NewParams(), cnn.Dropout(math.NaN()))
			return err
		}},
		{"lenet of no classes", "fc3: dense sizes must be positive, got in=84 out=0", func() error {
			_, err := cnn.NewLeNet5(graph.NewParams(), cnn.Classes(0))
			return err
		}},
		{"lenet with an unknown pooling", "lenet5: unknown pooling Pooling(7)", func() error {
			_, err := cnn.NewLeNet5(graph.NewParams(), cnn.Pool(cnn.Pooling(7)))
			return err
		}},
		{"classic smallcnn", "smallcnn: Classic applies to LeNet-5 only", func() error {
			_, err := cnn.NewSmallCNN(graph.NewParams(), cnn.Classic())
			return err
		}},
		{"smallcnn on 3x3 images", "smallcnn: input 3x3 is too small", func() error {
			_, err := cnn.NewSmallCNN(graph.NewParams(), cnn.Input(1, 3, 3))
			return err
		}},
		{"lenet on 8x8 images", "lenet5: input 8x8 is too small", func() error {
			_, err := cnn.NewLeNet5(graph.NewParams(), cnn.Input(1, 8, 8))
			return err
		}},
		{"smallcnn with no channels", "smallcnn: input shape [0 28 28] has a size below 1", func() error {
			_, err := cnn.NewSmallCNN(graph.NewParams(), cnn.Input(0, 28, 28))
			return err
		}},
		{"classifier of no model", "classifier: no model", func() error {
			_, err := cnn.NewClassifier(nil)
			return err
		}},
		{"classifier of a model without class scores", "classifier: convs gives outputs of shape (1, 2, 8, 8) for one image; a classifier needs (batch, classes)", func() error {
			ps := graph.NewParams()
			_, err := cnn.NewClassifier(nodes.NewSequential(ps, "convs", 1, 8, 8).Add(nodes.NewConv2D(ps, "conv1", 1, 2, 3, nodes.Padding(1))))
			return err
		}},
		{"classifier of a model not of images", "classifier: mlp takes examples of shape [64]; a classifier takes images", func() error {
			ps := graph.NewParams()
			_, err := cnn.NewClassifier(nodes.NewSequential(ps, "mlp", 64).Add(nodes.NewDense(ps, "fc", 64, 10)))
			return err
		}},
		{"classifier of a broken model", "broken: layer 0: fc: dense sizes must be positive", func() error {
			ps := graph.NewParams()
			_, err := cnn.NewClassifier(nodes.NewSequential(ps, "broken", 1, 8, 8).Add(nodes.NewDense(ps, "fc", 0, 10)))
			return err
		}},
	}
}

// checkpointCases are bad checkpoints and weights, and runs resumed with what they cannot take.
func checkpointCases(t *testing.T, dir, ckpt string, newLeNet func() *cnn.Classifier) []badCase {
	noRun := filepath.Join(dir, "norun.safetensors")
	if err := graph.SaveCheckpoint(noRun, newLeNet().Params(), nil, &graph.Extra{Meta: map[string]string{"model": "lenet5"}}); err != nil {
		t.Fatal(err)
	}
	badNorm := filepath.Join(dir, "badnorm.safetensors")
	if err := graph.SaveCheckpoint(badNorm, newLeNet().Params(), nil, &graph.Extra{Meta: map[string]string{"model": "lenet5", "normalization": `{"mean":[0.1,0.2],"std":[1,1]}`}}); err != nil {
		t.Fatal(err)
	}
	return []badCase{
		{"load a missing file", "missing.safetensors: no such file or directory", func() error {
			return newLeNet().LoadCheckpoint(filepath.Join(dir, "missing.safetensors"))
		}},
		{"load an empty file", "file of 0 bytes is too short for a header", func() error {
			p := filepath.Join(dir, "empty")
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				return err
			}
			return newLeNet().LoadCheckpoint(p)
		}},
		{"load into another net", `holds a classifier of "lenet5", not a classifier of "smallcnn"`, func() error {
			net, err := cnn.NewSmallCNN(graph.NewParams())
			if err != nil {
				return err
			}
			c, err := cnn.NewClassifier(net)
			if err != nil {
				return err
			}
			return c.LoadCheckpoint(ckpt)
		}},
		{"load weights of another net", "weights " + ckpt + " do not match the model: conv1.weight has shape (6, 1, 5, 5) in the file, (10, 784) in the model", func() error {
			ps := graph.NewParams()
			fc, err := nodes.NewDense(ps, "conv1", 784, 10)
			if err != nil {
				return err
			}
			c, err := cnn.NewClassifier(&custom{ps: ps, fc: fc})
			if err != nil {
				return err
			}
			return c.LoadWeights(ckpt)
		}},
		{"load weights of a missing file", "weights: open " + filepath.Join(dir, "gone"), func() error {
			return newLeNet().LoadWeights(filepath.Join(dir, "gone"))
		}},
		{"load a checkpoint without a run", "holds no training run (written without one: load it with LoadWeights)", func() error {
			return newLeNet().LoadCheckpoint(noRun)
		}},
		{"load a normalisation of 2 channels", "badnorm.safetensors: normalize: normalisation of 2 means and 2 standard deviations for 1 channels", func() error {
			return newLeNet().LoadCheckpoint(badNorm)
		}},
		{"resume with another batch size", "classifier: the run was trained with batch 32, this Fit asks for 16", func() error {
			c := newLeNet()
			if err := c.LoadCheckpoint(ckpt); err != nil {
				return err
			}
			train, _ := mnist(t)
			_, err := c.Fit(train.Head(64), graph.Batch(16))
			return err
		}},
		{"resume with another solver", "holds the state of a *solvers.Adam solver; this run's solver is *solvers.SGD", func() error {
			c := newLeNet()
			if err := c.LoadCheckpoint(ckpt); err != nil {
				return err
			}
			train, _ := mnist(t)
			_, err := c.Fit(train.Head(64), graph.Solver(solvers.NewSGD(0.1)))
			return err
		}},
	}
}
