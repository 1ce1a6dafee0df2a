package cnn_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
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

// TestLeNetLearnsMNIST trains LeNet-5 for one epoch on the first 2,000 real training images and
// requires 85% accuracy on 1,000 test images: it fails when learning breaks.
func TestLeNetLearnsMNIST(t *testing.T) {
	train, test := mnist(t)
	ps := graph.NewParams(graph.Seed(1))
	net, err := cnn.NewLeNet5(ps)
	if err != nil {
		t.Fatal(err)
	}
	clf, err := cnn.NewClassifier(ps, net, solvers.NewAdam(2e-3), cnn.Batch(32))
	if err != nil {
		t.Fatal(err)
	}
	hist, err := clf.Fit(train.Head(2000), cnn.Epochs(1))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := clf.Evaluate(test.Head(1000))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("train loss %.3f acc %.3f, test loss %.3f acc %.3f (%.0f images/s)", hist.Epochs[0].TrainLoss, hist.Epochs[0].TrainAccuracy, ev.Loss, ev.Accuracy, hist.Epochs[0].ImagesPerSecond)
	if ev.Accuracy < 0.85 {
		t.Fatalf("test accuracy %.3f after one epoch on 2,000 images, want at least 0.85", ev.Accuracy)
	}
	total := 0
	for _, row := range ev.Confusion {
		for _, n := range row {
			total += n
		}
	}
	if total != 1000 || ev.N != 1000 {
		t.Errorf("confusion matrix counts %d images, want 1000", total)
	}
}

// TestResumeMidEpoch stops a run in mid-epoch, saves, loads into a fresh classifier and
// finishes the epoch: parameters and history equal an uninterrupted run's bit for bit.
func TestResumeMidEpoch(t *testing.T) {
	train, _ := mnist(t)
	set := train.Head(640)
	build := func() *cnn.Classifier {
		ps := graph.NewParams(graph.Seed(3))
		net, err := cnn.NewLeNet5(ps, cnn.Dropout(0.2))
		if err != nil {
			t.Fatal(err)
		}
		clf, err := cnn.NewClassifier(ps, net, solvers.NewAdam(1e-3), cnn.Batch(32))
		if err != nil {
			t.Fatal(err)
		}
		return clf
	}
	straight := build()
	if _, err := straight.Fit(set, cnn.Epochs(2)); err != nil {
		t.Fatal(err)
	}
	first := build()
	if _, err := first.Fit(set, cnn.Epochs(2), cnn.MaxSteps(27)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	if err := first.Save(path); err != nil {
		t.Fatal(err)
	}
	second := build()
	if err := second.Load(path); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Fit(set, cnn.Epochs(2)); err != nil {
		t.Fatal(err)
	}
	for _, e := range straight.Params().Entries() {
		a, b := graph.Float64s(e.Value), graph.Float64s(second.Params().Value(e.Name))
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s[%d] = %v straight, %v resumed", e.Name, i, a[i], b[i])
			}
		}
	}
	hs, hr := straight.History(), second.History()
	if len(hs.Epochs) != 2 || len(hr.Epochs) != 2 {
		t.Fatalf("histories have %d and %d epochs", len(hs.Epochs), len(hr.Epochs))
	}
	for i := range hs.Epochs {
		if hs.Epochs[i].TrainLoss != hr.Epochs[i].TrainLoss || hs.Epochs[i].TrainAccuracy != hr.Epochs[i].TrainAccuracy {
			t.Errorf("epoch %d: straight %+v, resumed %+v", i+1, hs.Epochs[i], hr.Epochs[i])
		}
	}
}

func TestClassifierErrors(t *testing.T) {
	train, _ := mnist(t)
	ps := graph.NewParams()
	net, err := cnn.NewW1(ps)
	if err != nil {
		t.Fatal(err)
	}
	clf, err := cnn.NewClassifier(ps, net, solvers.NewSGD(0.1), cnn.Batch(64))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clf.Fit(train.Head(10)); err == nil || !strings.Contains(err.Error(), "batch size 64") {
		t.Errorf("tiny training set: %v", err)
	}
	if _, err := clf.Fit(nil); err == nil {
		t.Error("nil training set accepted")
	}
	if _, err := clf.Fit(train.Head(100), cnn.Epochs(0)); err == nil {
		t.Error("zero epochs accepted")
	}
	other := graph.NewParams()
	lenet, _ := cnn.NewLeNet5(other)
	clf2, _ := cnn.NewClassifier(other, lenet, solvers.NewSGD(0.1), cnn.Batch(64))
	path := filepath.Join(t.TempDir(), "w1.safetensors")
	if err := clf.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := clf2.Load(path); err == nil || !strings.Contains(err.Error(), `"w1" model, not "lenet5"`) {
		t.Errorf("loading a W1 checkpoint into LeNet: %v", err)
	}
	if _, _, err := clf.Predict(nil); err == nil {
		t.Error("nil images accepted")
	}
}
