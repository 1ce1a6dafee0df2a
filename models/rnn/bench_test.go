package rnn

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/nodes/gemm"
	"github.com/unroll-ml/unroll/solvers"
)

// oneHotBatch is a batch of random character streams as one-hot inputs (B, T, V) with the next
// character as the target, for the W2/W3 workloads.
func oneHotBatch(r *rand.Rand, batch, steps, vocab int) *Batch {
	ids := make([]int, batch*(steps+1))
	for i := range ids {
		ids[i] = r.IntN(vocab)
	}
	x := make([]float32, batch*steps*vocab)
	y := make([]float32, batch*steps)
	for b := 0; b < batch; b++ {
		for t := 0; t < steps; t++ {
			x[(b*steps+t)*vocab+ids[b*(steps+1)+t]] = 1
			y[b*steps+t] = float32(ids[b*(steps+1)+t+1])
		}
	}
	return &Batch{
		X: tensor.New(tensor.WithShape(batch, steps, vocab), tensor.WithBacking(x)),
		Y: tensor.New(tensor.WithShape(batch, steps), tensor.WithBacking(y)),
	}
}

// benchWorkload trains the W2 (LSTM) or W3 (GRU) network of bench/WORKLOADS.md, as
// bench/torch_reference.py builds it: one-hot input of a 96-character vocabulary, one layer of
// 256 hidden units, segments of 64 steps with the state carried, batch 32, a dense head and
// softmax cross-entropy at every step, Adam 2e-3, global-norm clip 5. The cells see the
// one-hot input and compute its product with W_ih as a gather of W_ih's columns (the same
// network and the same sums; see nodes/cellop.go). It reports training tokens per second of
// the median step after 2 warm-up steps (WORKLOADS.md asks for the median over at least 10
// steps: run with -benchtime 10x or more) and logs the matrix multiply in use.
func benchWorkload(b *testing.B, kind Kind) {
	const vocab, hidden, steps, batch = 96, 256, 64, 32
	ps := graph.NewParams(graph.Seed(1))
	net, err := NewNet(ps, "", kind, vocab, hidden, vocab)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := NewSegmentTrainer(net, solvers.NewAdam(2e-3), batch, steps, ClipNorm(5))
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	batches := []*Batch{oneHotBatch(r, batch, steps, vocab), oneHotBatch(r, batch, steps, vocab)}
	for i := 0; i < 2; i++ { // warm-up
		if _, err := tr.Step(batches[i%2]); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("gemm %s, %d threads", gemm.Impl(), compute.Threads())
	b.ReportAllocs()
	b.ResetTimer()
	times := make([]float64, 0, b.N)
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := tr.Step(batches[i%2]); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start).Seconds())
	}
	slices.Sort(times)
	b.ReportMetric(float64(batch*steps)/times[len(times)/2], "tokens/s") // median step
}

// BenchmarkW2 is workload W2: the character LSTM training step.
func BenchmarkW2(b *testing.B) { benchWorkload(b, LSTM) }

// BenchmarkW3 is workload W3: W2 with a GRU.
func BenchmarkW3(b *testing.B) { benchWorkload(b, GRU) }

// BenchmarkCompileLSTM256 compiles the training graph of a 256-step LSTM segment (hidden 256,
// one-hot input of 96, dense head, loss and symbolic gradients): the cost of unrolling.
func BenchmarkCompileLSTM256(b *testing.B) { benchCompile(b, 256, false) }

// BenchmarkCompileLSTM256Primitive is BenchmarkCompileLSTM256 with cells built from Gorgonia's
// own operations: about ten times as many nodes, and compilation time grows faster than that.
func BenchmarkCompileLSTM256Primitive(b *testing.B) { benchCompile(b, 256, true) }

func benchCompile(b *testing.B, steps int, primitive bool) {
	for i := 0; i < b.N; i++ {
		if _, err := compileSegment(steps, primitive); err != nil {
			b.Fatal(err)
		}
	}
}

// compileSegment builds and compiles the W2 network's training graph over steps steps and
// returns its node count.
func compileSegment(steps int, primitive bool) (int, error) {
	ps := graph.NewParams(graph.Seed(1))
	var opts []Option
	if primitive {
		opts = append(opts, PrimitiveOps())
	}
	net, err := NewNet(ps, "", LSTM, 96, 256, 96, opts...)
	if err != nil {
		return 0, err
	}
	tr, err := NewSegmentTrainer(net, solvers.NewAdam(2e-3), 32, steps)
	if err != nil {
		return 0, err
	}
	return len(tr.Trainer().Program().Builder().Graph().AllNodes()), nil
}

// Compiling the training graph of a 256-step LSTM segment is quick with the fused cells (the
// issue asks for well under 2 s); the time is logged, not asserted, since tests do not time.
// Gorgonia's own operations need about ten times as many nodes.
func TestCompileTime(t *testing.T) {
	for _, c := range []struct {
		steps     int
		primitive bool
	}{{256, false}, {64, false}, {64, true}} {
		if c.primitive && testing.Short() {
			continue
		}
		start := time.Now()
		n, err := compileSegment(c.steps, c.primitive)
		if err != nil {
			t.Fatal(err)
		}
		kind := "fused"
		if c.primitive {
			kind = "primitive"
		}
		t.Log(fmt.Sprintf("LSTM segment of %d steps, %s cells: %d nodes, built and compiled in %v", c.steps, kind, n, time.Since(start).Round(time.Millisecond)))
	}
}
