package graph_test

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// BenchmarkTrainStepDense is the dense part of the W1 network, Dense(3136->128), tanh,
// Dense(128->10), squared error, Adam, batch 64: it measures the executor and the training
// step around the operations.
func BenchmarkTrainStepDense(b *testing.B) {
	ps := graph.NewParams(graph.Seed(1))
	fc1, _ := nodes.NewDense(ps, "fc1", 3136, 128)
	fc2, _ := nodes.NewDense(ps, "fc2", 128, 10)
	bl := graph.NewBuilder(ps, graph.Train)
	x, _ := bl.Input("x", 64, 3136)
	y, _ := bl.Input("y", 64, 10)
	h, _ := fc1.Forward(bl, x)
	h = gorgonia.Must(gorgonia.Tanh(h))
	out, _ := fc2.Forward(bl, h)
	loss := gorgonia.Must(gorgonia.Mean(gorgonia.Must(gorgonia.Square(gorgonia.Must(gorgonia.Sub(out, y))))))
	tr, err := graph.NewTrainer(bl, loss, solvers.NewAdam(1e-3))
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	feeds := graph.Feeds{"x": randTensor(r, tensor.Float32, 64, 3136), "y": randTensor(r, tensor.Float32, 64, 10)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Step(feeds); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
}
