package cnn_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/models/cnn"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/nodes/gemm"
	"github.com/unroll-ml/unroll/solvers"
)

// w1Step builds the W1 workload (bench/WORKLOADS.md): its net (cnn.NewSmallCNN), softmax
// cross-entropy, Adam 1e-3, on random data of the right shapes; for inference, the logits. It
// returns the step and next, which draws a new batch into the fed tensors: every timed step
// reads a batch no earlier step has seen.
func w1Step(b *testing.B, batch int, train bool) (step func() error, next func()) {
	ps := graph.NewParams(graph.Seed(1))
	net, err := cnn.NewSmallCNN(ps)
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
	feeds := graph.Feeds{"x": graph.NewTensor(ps.Dtype(), []int{batch, 1, 28, 28}, nil)}
	if train {
		feeds["y"] = graph.NewTensor(ps.Dtype(), []int{batch}, nil)
	}
	next = func() {
		fill(feeds["x"], r.NormFloat64)
		if train {
			fill(feeds["y"], func() float64 { return float64(r.IntN(10)) })
		}
	}
	if !train {
		prog, err := graph.Compile(bl, map[string]*gorgonia.Node{"logits": logits})
		if err != nil {
			b.Fatal(err)
		}
		return func() error { _, err := prog.Run(feeds); return err }, next
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
	return func() error { _, err := tr.Step(feeds); return err }, next
}

// fill sets every value of t (float32 or float64) to a new draw of f.
func fill(t *tensor.Dense, f func() float64) {
	switch d := t.Data().(type) {
	case []float32:
		for i := range d {
			d[i] = float32(f())
		}
	case []float64:
		for i := range d {
			d[i] = f()
		}
	}
}

// benchImages times step after 3 warm-up steps, as bench/torch_reference.py does, and reports
// images per second from the median step time (the machines here are shared and noisy). Before
// each step, untimed, next draws a new batch, as a data loader would have.
func benchImages(b *testing.B, batch int, step func() error, next func()) {
	for i := 0; i < 3; i++ {
		next()
		if err := step(); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("gemm %s, %d threads", gemm.Impl(), compute.Threads())
	b.ReportAllocs()
	b.ResetTimer()
	times := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		next()
		b.StartTimer()
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
func BenchmarkW1(b *testing.B) {
	step, next := w1Step(b, 64, true)
	benchImages(b, 64, step, next)
}

// BenchmarkW1i is workload W1i: inference images per second at batch 256.
func BenchmarkW1i(b *testing.B) {
	step, next := w1Step(b, 256, false)
	benchImages(b, 256, step, next)
}
