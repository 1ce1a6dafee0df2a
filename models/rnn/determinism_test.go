package rnn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/solvers"
)

// trainBits trains a W2-like network (one-hot input, one recurrent layer, a head and the loss
// at every step, Adam, global-norm clipping, the state carried over two segments a batch) for a
// few batches with the matrix products and the parallel loops on the given number of threads,
// and returns the losses and every parameter afterwards, as float32 bits.
func trainBits(t *testing.T, kind Kind, threads int) []uint32 {
	defer compute.SetThreads(compute.SetThreads(threads))
	// Batch 128 and hidden 256 make the steps large enough for the cells' row-parallel loops.
	const vocab, hidden, batch, k, steps = 24, 256, 128, 4, 8
	ps := graph.NewParams(graph.Seed(11))
	net, err := NewNet(ps, "", kind, vocab, hidden, vocab)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := graph.NewFitConfig(graph.Solver(solvers.NewAdam(2e-3)), graph.ClipNorm(0.5), graph.Segment(k))
	if err != nil {
		t.Fatal(err)
	}
	train := newSegments(net, false)
	r := rand.New(rand.NewPCG(3, 4))
	var bits []uint32
	for range 3 {
		res, err := train.trainBatch(oneHotBatch(r, batch, steps, vocab), cfg, true)
		if err != nil {
			t.Fatal(err)
		}
		bits = append(bits, math.Float32bits(float32(res.Loss)), math.Float32bits(float32(res.GradNorm)))
	}
	for _, name := range ps.Trainable() {
		for _, v := range ps.Value(name).Data().([]float32) {
			bits = append(bits, math.Float32bits(v))
		}
	}
	return bits
}

// The same seed gives the same training, bit for bit, on one thread and on several: the
// matrix products, the cells' elementwise loops and their sums over rows do not depend on
// the number of threads.
func TestTrainingSameOnAnyThreadCount(t *testing.T) {
	for _, kind := range []Kind{LSTM, GRU} {
		one := trainBits(t, kind, 1)
		for _, threads := range []int{2, 3} {
			many := trainBits(t, kind, threads)
			if len(many) != len(one) {
				t.Fatalf("%v: %d values on %d threads, %d on one", kind, len(many), threads, len(one))
			}
			for i := range one {
				if one[i] != many[i] {
					t.Fatalf("%v: value %d is %v on one thread, %v on %d threads", kind, i,
						math.Float32frombits(one[i]), math.Float32frombits(many[i]), threads)
				}
			}
		}
	}
}
