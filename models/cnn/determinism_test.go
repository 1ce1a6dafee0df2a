package cnn_test

import (
	"math/rand/v2"
	"testing"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// trainW1 trains the net of workload W1 (cnn.NewSmallCNN) for a few steps of Adam on fixed
// random data, with the matrix products and the ops' parallel loops on the given number of
// threads, and returns the parameters and the losses.
func trainW1(t *testing.T, threads int) (*graph.Params, []float64) {
	t.Helper()
	defer compute.SetThreads(compute.SetThreads(threads))
	const batch, steps = 16, 3
	ps := graph.NewParams(graph.Seed(7))
	net, err := cnn.NewSmallCNN(ps)
	if err != nil {
		t.Fatal(err)
	}
	b := graph.NewBuilder(ps, graph.Train)
	x, _ := b.Input("x", batch, 1, 28, 28)
	y, _ := b.Input("y", batch)
	logits, err := net.Forward(b, x)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := nodes.SoftmaxCrossEntropy(b, logits, y)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := graph.NewTrainer(b, loss, solvers.NewAdam(1e-3))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	var losses []float64
	for s := 0; s < steps; s++ {
		xs := make([]float64, batch*28*28)
		for i := range xs {
			xs[i] = r.NormFloat64()
		}
		ys := make([]float64, batch)
		for i := range ys {
			ys[i] = float64(r.IntN(10))
		}
		res, err := tr.Step(graph.Feeds{
			"x": graph.NewTensor(ps.Dtype(), []int{batch, 1, 28, 28}, xs),
			"y": graph.NewTensor(ps.Dtype(), []int{batch}, ys),
		})
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, res.Loss)
	}
	return ps, losses
}

// TestW1SameResultOnOneAndTwoThreads trains the net of workload W1 with one thread and with two
// (matrix products and the ops' parallel loops) from the same seed: parameters and losses must
// agree bit for bit.
func TestW1SameResultOnOneAndTwoThreads(t *testing.T) {
	one, lossOne := trainW1(t, 1)
	two, lossTwo := trainW1(t, 2)
	if compute.SetThreads(2); compute.Threads() < 2 {
		t.Logf("only %d core: both runs used one thread", compute.Threads())
	}
	compute.SetThreads(0)
	for i := range lossOne {
		if lossOne[i] != lossTwo[i] {
			t.Errorf("step %d: loss %v on one thread, %v on two", i+1, lossOne[i], lossTwo[i])
		}
	}
	for _, e := range one.Entries() {
		a, b := graph.Float64s(e.Value), graph.Float64s(two.Value(e.Name))
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s[%d] = %v on one thread, %v on two", e.Name, i, a[i], b[i])
			}
		}
	}
}
