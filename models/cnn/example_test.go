package cnn_test

import (
	"fmt"
	"log"

	"github.com/unroll-ml/unroll/data/builtin"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/solvers"
)

// A CNN classifier on real MNIST: LeNet-5 trained for one epoch on 2,000 images, then
// evaluated on 1,000 test images.
func Example() {
	train, test, err := builtin.MNIST() // normalised (x/255 - 0.1307)/0.3081
	if err != nil {
		log.Fatal(err)
	}
	ps := graph.NewParams(graph.Seed(1))
	net, err := cnn.NewLeNet5(ps) // conv 6@5x5 pad 2, pool, conv 16@5x5, pool, dense 120, 84, 10
	if err != nil {
		log.Fatal(err)
	}
	clf, err := cnn.NewClassifier(ps, net, solvers.NewAdam(2e-3), cnn.Batch(32))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := clf.Fit(train.Head(2000), cnn.Epochs(1)); err != nil {
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
