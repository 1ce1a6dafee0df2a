package cnn_test

import (
	"slices"
	"sync"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// TestPredictFromSeveralGoroutines serves a trained LeNet-5 from four goroutines at once, the
// way the Classifier's documentation gives: each compiles its own evaluation program from the
// classifier's Params and Model. Their predictions must equal those of Classifier.Predict run
// alone; `go test -race` checks that the goroutines share nothing unsafely.
func TestPredictFromSeveralGoroutines(t *testing.T) {
	train, test := mnist(t)
	ps := graph.NewParams(graph.Seed(2))
	net, err := cnn.NewLeNet5(ps, cnn.Dropout(0.2))
	if err != nil {
		t.Fatal(err)
	}
	clf, err := cnn.NewClassifier(ps, net, solvers.NewAdam(2e-3), cnn.Batch(32))
	if err != nil {
		t.Fatal(err)
	}
	steps := 20
	if testing.Short() {
		steps = 5
	}
	if _, err := clf.Fit(train.Head(640), cnn.MaxSteps(steps)); err != nil {
		t.Fatal(err)
	}
	const workers, batch = 4, 25
	it, err := data.NewImageBatches(test.Head(workers*batch), batch)
	if err != nil {
		t.Fatal(err)
	}
	var batches []*data.ImageBatch
	var want [][]int
	for b, ok := it.Next(); ok; b, ok = it.Next() {
		classes, _, err := clf.Predict(b.X)
		if err != nil {
			t.Fatal(err)
		}
		batches, want = append(batches, b), append(want, classes)
	}

	got := make([][]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One evaluation program per goroutine, from the shared parameters.
			b := graph.NewBuilder(clf.Params(), graph.Eval)
			c, h, wd := clf.Model().InputShape()
			x, err := b.Input("x", batch, c, h, wd)
			if err != nil {
				errs[w] = err
				return
			}
			logits, err := clf.Model().Forward(b, x)
			if err != nil {
				errs[w] = err
				return
			}
			probs, err := nodes.Softmax{}.Forward(b, logits)
			if err != nil {
				errs[w] = err
				return
			}
			prog, err := graph.Compile(b, map[string]*gorgonia.Node{"probs": probs})
			if err != nil {
				errs[w] = err
				return
			}
			defer prog.Close()
			out, err := prog.Run(graph.Feeds{"x": batches[w].X})
			if err != nil {
				errs[w] = err
				return
			}
			p := graph.Float64s(out["probs"])
			k := clf.Model().Classes()
			for i := range batch {
				row := p[i*k : (i+1)*k]
				got[w] = append(got[w], slices.Index(row, slices.Max(row)))
			}
		}()
	}
	wg.Wait()
	for w := range workers {
		if errs[w] != nil {
			t.Fatalf("goroutine %d: %v", w, errs[w])
		}
		if !slices.Equal(got[w], want[w]) {
			t.Errorf("goroutine %d predicted %v, Predict alone %v", w, got[w], want[w])
		}
	}
}
