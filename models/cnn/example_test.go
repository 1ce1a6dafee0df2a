package cnn_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// A CNN classifier on real MNIST: LeNet-5 trained for one epoch on 2,000 images, then
// evaluated on 1,000 test images.
func Example() {
	train, test, err := builtin.MNIST() // both record MNIST's normalisation, mean 0.1307 and std 0.3081
	if err != nil {
		log.Fatal(err)
	}
	net, err := cnn.NewLeNet5(graph.NewParams(graph.Seed(1))) // conv 6@5x5 pad 2, pool, conv 16@5x5, pool, dense 120, 84, 10
	if err != nil {
		log.Fatal(err)
	}
	clf, err := cnn.NewClassifier(net)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := clf.Fit(train.Head(2000), graph.Epochs(1), graph.Batch(32), graph.Solver(solvers.NewAdam(2e-3))); err != nil {
		log.Fatal(err)
	}
	ev, err := clf.Evaluate(test.Head(1000))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("images evaluated:", ev.N)
	fmt.Println("accuracy above 85%:", ev.Accuracy > 0.85)
	// Output:
	// images evaluated: 1000
	// accuracy above 85%: true
}

// A custom CNN written with nodes.Sequential on the built-in 8x8 digits: trained, evaluated,
// saved, and loaded into a freshly built copy for inference.
func Example_sequential() {
	train, test, err := builtin.Digits8x8() // 1,437 and 360 grey 8x8 images, values in [0, 1]
	check(err)
	norm, err := data.ChannelStats(train) // the training set's mean and deviation
	check(err)
	train, err = train.Normalize(norm) // the classifier applies it to sets that record none
	check(err)
	newNet := func() (*nodes.Sequential, error) { // images (B, 1, 8, 8) to class scores (B, 10)
		ps := graph.NewParams(graph.Seed(1))
		net := nodes.NewSequential(ps, "digits", 1, 8, 8).
			Add(nodes.NewConv2D(ps, "conv1", 1, 16, 3, nodes.Padding(1))).Add(nodes.ReLU{}).
			Add(nodes.NewMaxPool2D("pool1", 2)).Add(nodes.Flatten{}).
			Add(nodes.NewDense(ps, "fc1", 16*4*4, 64)).Add(nodes.ReLU{}).
			Add(nodes.NewDense(ps, "fc2", 64, 10))
		return net, net.Err()
	}
	net, err := newNet()
	check(err)
	clf, err := cnn.NewClassifier(net)
	check(err)
	_, err = clf.Fit(train, graph.Epochs(20), graph.Batch(32), graph.Solver(solvers.NewAdam(3e-3)))
	check(err)
	ev, err := clf.Evaluate(test)
	check(err)
	fmt.Println("test images:", ev.N, "accuracy above 90%:", ev.Accuracy > 0.9)
	dir, err := os.MkdirTemp("", "digits")
	check(err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "digits.safetensors")
	check(clf.SaveCheckpoint(path))
	// For inference: the same architecture, freshly built, and the saved weights.
	fresh, err := newNet()
	check(err)
	loaded, err := cnn.NewClassifier(fresh)
	check(err)
	check(loaded.LoadWeights(path)) // parameters and the training normalisation; no solver
	want, _, err := clf.Predict(test)
	check(err)
	got, _, err := loaded.Predict(test)
	check(err)
	fmt.Println("same predictions after loading:", slices.Equal(got, want))
	// Output:
	// test images: 360 accuracy above 90%: true
	// same predictions after loading: true
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
