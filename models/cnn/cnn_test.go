package cnn_test

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

func mnist(t testing.TB) (train, test *data.ImageSet) {
	t.Helper()
	train, test, err := builtin.MNIST()
	if err != nil {
		t.Fatal(err)
	}
	return train, test
}

func digits(t testing.TB) (train, test *data.ImageSet) {
	t.Helper()
	train, test, err := builtin.Digits8x8()
	if err != nil {
		t.Fatal(err)
	}
	return train, test
}

// digitsNet is a small CNN for the 8x8 digits: conv 8@3x3, ReLU, 2x2 max pool, dense 10, with
// dropout before the dense layer so that the random source matters.
func digitsNet(t testing.TB, seed uint64) *nodes.Sequential {
	t.Helper()
	ps := graph.NewParams(graph.Seed(seed))
	net := nodes.NewSequential(ps, "digits", 1, 8, 8).
		Add(nodes.NewConv2D(ps, "conv1", 1, 8, 3, nodes.Padding(1))).Add(nodes.ReLU{}).
		Add(nodes.NewMaxPool2D("pool1", 2)).Add(nodes.Flatten{}).
		Add(nodes.NewDropout("drop", 0.1)).
		Add(nodes.NewDense(ps, "fc", 8*4*4, 10))
	if err := net.Err(); err != nil {
		t.Fatal(err)
	}
	return net
}

func newClassifier(t testing.TB, model nodes.Model) *cnn.Classifier {
	t.Helper()
	clf, err := cnn.NewClassifier(model)
	if err != nil {
		t.Fatal(err)
	}
	return clf
}

func fit(t testing.TB, clf *cnn.Classifier, set *data.ImageSet, opts ...graph.FitOption) *graph.History {
	t.Helper()
	h, err := clf.Fit(set, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sameParams fails unless a and b hold bit-identical values.
func sameParams(t testing.TB, a, b *graph.Params, what string) {
	t.Helper()
	for _, e := range a.Entries() {
		if !slices.Equal(graph.Float64s(e.Value), graph.Float64s(b.Value(e.Name))) {
			t.Fatalf("%s: %s differs", what, e.Name)
		}
	}
}

// TestLeNetLearnsMNIST trains LeNet-5 for one epoch on the first 2,000 real training images and
// requires 85% accuracy on 1,000 test images: it fails when learning breaks.
func TestLeNetLearnsMNIST(t *testing.T) {
	train, test := mnist(t)
	net, err := cnn.NewLeNet5(graph.NewParams(graph.Seed(1)))
	if err != nil {
		t.Fatal(err)
	}
	clf := newClassifier(t, net)
	hist := fit(t, clf, train.Head(2000), graph.Batch(32), graph.Solver(solvers.NewAdam(2e-3)))
	ev, err := clf.Evaluate(test.Head(1000))
	if err != nil {
		t.Fatal(err)
	}
	e := hist.Epochs[0]
	t.Logf("train loss %.3f acc %.3f, test loss %.3f acc %.3f (%.0f images/s)", e.TrainLoss, e.TrainAccuracy, ev.Loss, ev.Accuracy, e.ExamplesPerSec)
	if ev.Accuracy < 0.85 {
		t.Fatalf("test accuracy %.3f after one epoch on 2,000 images, want at least 0.85", ev.Accuracy)
	}
	total := 0
	for _, row := range ev.Confusion {
		for _, n := range row {
			total += n
		}
	}
	if total != 1000 || ev.N != 1000 || e.Steps != 2000/32 {
		t.Errorf("confusion matrix counts %d images, want 1000; %d steps", total, e.Steps)
	}
}

// The trap of the old Fit, whose Epochs was a total: a second Fit(train, Epochs(2)) trained
// nothing. Epochs is a count to run: 1 + 2 epochs give what 3 at once give, bit for bit.
func TestSecondFitTrainsMore(t *testing.T) {
	train, _ := digits(t)
	straight := newClassifier(t, digitsNet(t, 4))
	fit(t, straight, train, graph.Epochs(3))

	twice := newClassifier(t, digitsNet(t, 4))
	fit(t, twice, train, graph.Epochs(1))
	before := graph.Float64s(twice.Params().Value("fc.weight"))
	h := fit(t, twice, train, graph.Epochs(2))
	if len(h.Epochs) != 3 || twice.Run().Epochs() != 3 || twice.Run().Steps() != 3*(1437/64) {
		t.Fatalf("after Fit of 1 and of 2 epochs: %d epochs of history, run at epoch %d, step %d", len(h.Epochs), twice.Run().Epochs(), twice.Run().Steps())
	}
	if slices.Equal(before, graph.Float64s(twice.Params().Value("fc.weight"))) {
		t.Fatal("the second Fit did not change the parameters")
	}
	sameParams(t, straight.Params(), twice.Params(), "1 + 2 epochs against 3")
	if fmtHist(straight.Run().History()) != fmtHist(twice.Run().History()) {
		t.Errorf("histories differ:\n%s\n%s", fmtHist(straight.Run().History()), fmtHist(twice.Run().History()))
	}
}

// fmtHist formats a history without its timings.
func fmtHist(h graph.History) string {
	var b strings.Builder
	for _, e := range h.Epochs {
		b.WriteString(strings.Join([]string{fmtf(e.TrainLoss), fmtf(e.TrainAccuracy)}, " ") + ";")
	}
	return b.String()
}

func fmtf(v float64) string { js, _ := json.Marshal(v); return string(js) }

// TestResumeMidEpoch stops a run in mid-epoch, saves, loads into a fresh classifier and
// finishes: parameters and history equal an uninterrupted run's bit for bit. Dropout makes
// the random source matter; the resumed run keeps the batch size and, given no solver, takes
// the saved Adam's state into the default one.
func TestResumeMidEpoch(t *testing.T) {
	train, test := mnist(t)
	set := train.Head(640)
	build := func() *cnn.Classifier {
		net, err := cnn.NewLeNet5(graph.NewParams(graph.Seed(3)), cnn.Dropout(0.2))
		if err != nil {
			t.Fatal(err)
		}
		return newClassifier(t, net)
	}
	straight := build()
	fit(t, straight, set, graph.Epochs(2), graph.Batch(32), graph.Validation(test.Head(100)))
	first := build()
	fit(t, first, set, graph.Steps(27), graph.Batch(32), graph.Validation(test.Head(100)))
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	if err := first.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	second := build()
	if err := second.LoadCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	if second.Run().Steps() != 27 || second.Run().Epochs() != 1 {
		t.Fatalf("loaded at step %d, epoch %d; want 27 and 1", second.Run().Steps(), second.Run().Epochs())
	}
	fit(t, second, set, graph.Epochs(1), graph.Validation(test.Head(100))) // finishes epoch 2
	sameParams(t, straight.Params(), second.Params(), "straight against resumed")
	hs, hr := straight.Run().History(), second.Run().History()
	if len(hs.Epochs) != 2 || fmtHist(hs) != fmtHist(hr) {
		t.Fatalf("histories differ:\n%s\n%s", fmtHist(hs), fmtHist(hr))
	}
	for i := range hs.Epochs {
		if v, w := hs.Epochs[i].Validation, hr.Epochs[i].Validation; v == nil || w == nil || *v != *w {
			t.Errorf("epoch %d: validation %+v straight, %+v resumed", i+1, v, w)
		}
	}
}

// The trap of loading weights for inference into a model built with another solver: LoadWeights
// reads a checkpoint into a classifier that has never trained (no solver at all) and into one
// that trained with another solver, and both then predict as the saved classifier does.
func TestLoadWeightsForInference(t *testing.T) {
	train, test := digits(t)
	saved := newClassifier(t, digitsNet(t, 1))
	fit(t, saved, train, graph.Epochs(2), graph.Solver(solvers.NewAdam(3e-3)))
	path := filepath.Join(t.TempDir(), "digits.safetensors")
	if err := saved.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	want, wantProbs, err := saved.Predict(test)
	if err != nil {
		t.Fatal(err)
	}
	fresh := newClassifier(t, digitsNet(t, 99))
	sgd := newClassifier(t, digitsNet(t, 98))
	fit(t, sgd, train.Head(128), graph.Solver(solvers.NewSGD(0.1)))
	for name, clf := range map[string]*cnn.Classifier{"never trained": fresh, "trained with SGD": sgd} {
		if err := clf.LoadWeights(path); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, probs, err := clf.Predict(test)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) || !slices.EqualFunc(probs, wantProbs, slices.Equal) {
			t.Errorf("%s: predictions differ from the saved classifier's", name)
		}
	}
	// Resuming the run, in contrast, needs the solver the state was saved for.
	resumed := newClassifier(t, digitsNet(t, 97))
	if err := resumed.LoadCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	if _, err := resumed.Fit(train, graph.Solver(solvers.NewSGD(0.1))); err == nil || !strings.Contains(err.Error(), "holds the state of a *solvers.Adam solver; this run's solver is *solvers.SGD") {
		t.Errorf("resuming an Adam run with SGD: %v", err)
	}
}

// The classifier records the training data's normalisation, saves it, applies it to sets that
// record none and refuses sets normalised otherwise; a set without one trains on [0, 1].
func TestNormalization(t *testing.T) {
	train, test := digits(t)
	norm, err := data.ChannelStats(train)
	if err != nil {
		t.Fatal(err)
	}
	ntrain, _ := train.Normalize(norm)
	ntest, _ := test.Normalize(norm)
	clf := newClassifier(t, digitsNet(t, 2))
	if _, known := clf.Normalization(); known {
		t.Fatal("a classifier that never trained knows a normalisation")
	}
	fit(t, clf, ntrain)
	if n, known := clf.Normalization(); !known || !slices.Equal(n.Mean, norm.Mean) || !slices.Equal(n.Std, norm.Std) {
		t.Fatalf("recorded %v (%v), want %v", n, known, norm)
	}
	raw, err := clf.Evaluate(test)
	if err != nil {
		t.Fatal(err)
	}
	normalised, err := clf.Evaluate(ntest)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Loss != normalised.Loss || raw.Accuracy != normalised.Accuracy {
		t.Errorf("a set without normalisation scores %v, the same set normalised %v", raw, normalised)
	}
	other, _ := test.Normalize(data.Normalization{Mean: []float64{0.5}, Std: []float64{0.5}})
	if _, err := clf.Evaluate(other); err == nil || !strings.Contains(err.Error(), "evaluation set is normalised with mean [0.5] std [0.5], the training data with mean") {
		t.Errorf("a set normalised otherwise: %v", err)
	}
	if _, _, err := clf.Predict(other); err == nil {
		t.Error("Predict took a set normalised otherwise")
	}
	// The checkpoint carries it to a fresh classifier, by LoadCheckpoint and by LoadWeights.
	path := filepath.Join(t.TempDir(), "n.safetensors")
	if err := clf.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	want, _, _ := clf.Predict(test)
	for _, load := range []func(*cnn.Classifier) error{
		func(c *cnn.Classifier) error { return c.LoadCheckpoint(path) },
		func(c *cnn.Classifier) error { return c.LoadWeights(path) },
	} {
		c := newClassifier(t, digitsNet(t, 3))
		if err := load(c); err != nil {
			t.Fatal(err)
		}
		if got, _, err := c.Predict(test); err != nil || !slices.Equal(got, want) {
			t.Errorf("after loading: predictions differ (%v)", err)
		}
	}
	// Trained on a set without normalisation: values in [0, 1], and normalised sets refused.
	plain := newClassifier(t, digitsNet(t, 2))
	fit(t, plain, train)
	if n, known := plain.Normalization(); !known || !n.IsZero() {
		t.Errorf("trained without normalisation: recorded %v (%v)", n, known)
	}
	if _, err := plain.Evaluate(ntest); err == nil || !strings.Contains(err.Error(), "the training data with none") {
		t.Errorf("a normalised set for a model trained without: %v", err)
	}
}

// Multi-channel images: the set's channels must be the model's.
func TestChannels(t *testing.T) {
	ps := graph.NewParams(graph.Seed(1))
	net := nodes.NewSequential(ps, "rgb", 3, 4, 4).
		Add(nodes.NewConv2D(ps, "conv1", 3, 4, 3, nodes.Padding(1))).Add(nodes.ReLU{}).
		Add(nodes.Flatten{}).Add(nodes.NewDense(ps, "fc", 4*4*4, 2))
	clf := newClassifier(t, net)
	rgb := &data.ImageSet{N: 8, C: 3, H: 4, W: 4, Classes: 2, Values: make([]float32, 8*3*16), Labels: make([]int, 8)}
	for i := range rgb.Values {
		rgb.Values[i] = float32(i%7) / 7
	}
	for i := range rgb.Labels {
		rgb.Labels[i] = i % 2
	}
	h := fit(t, clf, rgb, graph.Batch(4), graph.Epochs(2))
	if len(h.Epochs) != 2 || h.Epochs[1].Steps != 2 {
		t.Fatalf("history %+v", h.Epochs)
	}
	grey := &data.ImageSet{N: 8, H: 4, W: 4, Classes: 2, Values: make([]float32, 8*16), Labels: make([]int, 8)}
	if _, err := clf.Evaluate(grey); err == nil || !strings.Contains(err.Error(), "the evaluation set has images of 1 channels, rgb expects 3x4x4") {
		t.Errorf("grey images for an RGB model: %v", err)
	}
}

// Predict over a set gives what PredictTensor gives over its batches, and Validation scores
// the set after every epoch as Evaluate does.
func TestPredictAndValidation(t *testing.T) {
	train, test := digits(t)
	clf := newClassifier(t, digitsNet(t, 5))
	h := fit(t, clf, train, graph.Epochs(2), graph.Validation(test))
	ev, err := clf.Evaluate(test)
	if err != nil {
		t.Fatal(err)
	}
	if v := h.Epochs[1].Validation; v == nil || v.Loss != ev.Loss || v.Accuracy != ev.Accuracy || v.N != 360 {
		t.Errorf("validation %+v, evaluation %+v", v, ev)
	}
	classes, probs, err := clf.Predict(test)
	if err != nil || len(classes) != 360 || len(probs) != 360 || len(probs[0]) != 10 {
		t.Fatalf("Predict: %d classes, %d rows, %v", len(classes), len(probs), err)
	}
	it, err := data.NewImageBatches(test, 100)
	if err != nil {
		t.Fatal(err)
	}
	var fromTensors []int
	pass := it.Pass()
	for b, ok := pass.Next(); ok; b, ok = pass.Next() {
		cl, _, err := clf.PredictTensor(b.X)
		if err != nil {
			t.Fatal(err)
		}
		fromTensors = append(fromTensors, cl...)
	}
	if !slices.Equal(classes, fromTensors) {
		t.Error("Predict and PredictTensor disagree")
	}
	right := 0
	for i, c := range classes {
		if c == test.Labels[i] {
			right++
		}
	}
	if float64(right)/360 != ev.Accuracy {
		t.Errorf("%d of 360 predictions right, accuracy %v", right, ev.Accuracy)
	}
}

// JSON keys are snake_case: an evaluation and a history as they are marshalled.
func TestJSONKeysSnakeCase(t *testing.T) {
	train, test := digits(t)
	clf := newClassifier(t, digitsNet(t, 6))
	h := fit(t, clf, train, graph.Validation(test))
	ev, err := clf.Evaluate(test)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{ev, h} {
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range regexp.MustCompile(`"([^"]+)":`).FindAllStringSubmatch(string(js), -1) {
			if !regexp.MustCompile(`^[a-z0-9_]+$`).MatchString(k[1]) {
				t.Errorf("key %q in %s", k[1], js)
			}
		}
	}
}

// FeatureMaps gives the activation of each convolution, named after it.
func TestFeatureMaps(t *testing.T) {
	_, test := mnist(t)
	for _, build := range []func(*graph.Params, ...cnn.Option) (*nodes.Sequential, error){cnn.NewLeNet5, cnn.NewSmallCNN} {
		net, err := build(graph.NewParams(graph.Seed(1)))
		if err != nil {
			t.Fatal(err)
		}
		clf := newClassifier(t, net)
		it, _ := data.NewImageBatches(test, 1)
		b, _ := it.Pass().Next()
		maps, err := clf.FeatureMaps(b.X)
		if err != nil {
			t.Fatal(err)
		}
		if len(maps) != 2 || maps[0].Name != "conv1" || maps[1].Name != "conv2" || maps[0].H != 28 || len(maps[0].Values) != maps[0].C*28*28 {
			t.Fatalf("%s: %d maps, first %s %dx%dx%d", net.Name(), len(maps), maps[0].Name, maps[0].C, maps[0].H, maps[0].W)
		}
		for _, v := range maps[0].Values {
			if v < 0 {
				t.Fatalf("%s: the first map holds %v, after a ReLU", net.Name(), v)
			}
		}
	}
}
