package cnn_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/nodes/gemm"
	"github.com/unroll-ml/unroll/solvers"
)

// w1Step builds the W1 workload (bench/WORKLOADS.md): the W1 net, batch 64, softmax
// cross-entropy, Adam 1e-3, on random data of the right shapes.
func w1Step(b *testing.B, batch int, train bool) func() error {
	ps := graph.NewParams(graph.Seed(1))
	net, err := cnn.NewW1(ps)
	if err != nil {
		b.Fatal(err)
	}
	mode := graph.Eval
	if train {
		mode = graph.Train
	}
	bl := graph.NewBuilder(ps, mode)
	x, _ := bl.Input("x", batch, 1, 28, 28)
	logits, err := net.Forward(bl, x)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	xs := make([]float64, batch*28*28)
	ys := make([]float64, batch)
	for i := range xs {
		xs[i] = r.NormFloat64()
	}
	for i := range ys {
		ys[i] = float64(r.IntN(10))
	}
	feeds := graph.Feeds{"x": graph.NewTensor(ps.Dtype(), []int{batch, 1, 28, 28}, xs)}
	if !train {
		prog, err := graph.Compile(bl, map[string]*gorgonia.Node{"logits": logits})
		if err != nil {
			b.Fatal(err)
		}
		return func() error { _, err := prog.Run(feeds); return err }
	}
	y, _ := bl.Input("y", batch)
	loss, err := nodes.SoftmaxCrossEntropy(bl, logits, y)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := graph.NewTrainer(bl, loss, solvers.NewAdam(1e-3))
	if err != nil {
		b.Fatal(err)
	}
	feeds["y"] = graph.NewTensor(ps.Dtype(), []int{batch}, ys)
	return func() error { _, err := tr.Step(feeds); return err }
}

// benchImages times step after 3 warm-up steps, as bench/torch_reference.py does, and reports
// images per second from the median step time (the machines here are shared and noisy).
func benchImages(b *testing.B, batch int, step func() error) {
	for i := 0; i < 3; i++ {
		if err := step(); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("gemm %s, %d threads", gemm.Impl(), compute.Threads())
	b.ReportAllocs()
	b.ResetTimer()
	times := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		t := time.Now()
		if err := step(); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t))
	}
	slices.Sort(times)
	b.ReportMetric(float64(batch)/times[len(times)/2].Seconds(), "images/s")
}

// BenchmarkW1 is workload W1: training images per second.
func BenchmarkW1(b *testing.B) { benchImages(b, 64, w1Step(b, 64, true)) }

// BenchmarkW1i is workload W1i: inference images per second at batch 256.
func BenchmarkW1i(b *testing.B) { benchImages(b, 256, w1Step(b, 256, false)) }
