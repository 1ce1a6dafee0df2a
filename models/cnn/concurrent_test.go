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
// classifier's model. Their predictions must equal those of Classifier.PredictTensor run
// alone; `go test -race` checks that the goroutines share nothing unsafely.
func TestPredictFromSeveralGoroutines(t *testing.T) {
	train, test := mnist(t)
	net, err := cnn.NewLeNet5(graph.NewParams(graph.Seed(2)), cnn.Dropout(0.2))
	if err != nil {
		t.Fatal(err)
	}
	clf := newClassifier(t, net)
	steps := 20
	if testing.Short() {
		steps = 5
	}
	fit(t, clf, train.Head(640), graph.Steps(steps), graph.Batch(32), graph.Solver(solvers.NewAdam(2e-3)))
	const workers, batch = 4, 25
	it, err := data.NewImageBatches(test.Head(workers*batch), batch)
	if err != nil {
		t.Fatal(err)
	}
	var batches []*data.ImageBatch
	var want [][]int
	pass := it.Pass()
	for b, ok := pass.Next(); ok; b, ok = pass.Next() {
		classes, _, err := clf.PredictTensor(b.X)
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
			got[w], errs[w] = predictAlone(clf.Model(), batches[w].X.Shape()[0], batches[w])
		}()
	}
	wg.Wait()
	for w := range workers {
		if errs[w] != nil {
			t.Fatalf("goroutine %d: %v", w, errs[w])
		}
		if !slices.Equal(got[w], want[w]) {
			t.Errorf("goroutine %d predicted %v, PredictTensor alone %v", w, got[w], want[w])
		}
	}
}

// predictAlone compiles an evaluation program of its own from the model's parameters and
// predicts the classes of b.
func predictAlone(model nodes.Model, batch int, b *data.ImageBatch) ([]int, error) {
	g := graph.NewBuilder(model.Params(), graph.Eval)
	x, err := g.Input("x", append([]int{batch}, model.InputShape()...)...)
	if err != nil {
		return nil, err
	}
	logits, err := model.Forward(g, x)
	if err != nil {
		return nil, err
	}
	prog, err := graph.Compile(g, map[string]*gorgonia.Node{"logits": logits})
	if err != nil {
		return nil, err
	}
	defer prog.Close()
	out, err := prog.Run(graph.Feeds{"x": b.X})
	if err != nil {
		return nil, err
	}
	p := graph.Float64s(out["logits"])
	k := len(p) / batch
	var classes []int
	for i := range batch {
		row := p[i*k : (i+1)*k]
		classes = append(classes, slices.Index(row, slices.Max(row)))
	}
	return classes, nil
}
