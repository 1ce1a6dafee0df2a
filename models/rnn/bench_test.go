package rnn

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/nodes/gemm"
	"github.com/unroll-ml/unroll/solvers"
)

// oneHotBatch is a batch of random character streams as one-hot inputs (B, T, V) with the next
// character as the target.
func oneHotBatch(r *rand.Rand, batch, steps, vocab int) *data.SequenceBatch {
	sb := randomStreams(r, batch, steps, vocab)
	x := make([]float32, batch*steps*vocab)
	y := make([]float32, batch*steps)
	for i, id := range sb.X {
		x[i*vocab+id] = 1
		y[i] = float32(sb.Y[i])
	}
	return &data.SequenceBatch{
		X: tensor.New(tensor.WithShape(batch, steps, vocab), tensor.WithBacking(x)),
		Y: tensor.New(tensor.WithShape(batch, steps), tensor.WithBacking(y)),
	}
}

// randomStreams is a batch of random character streams as ids, each continuing the streams
// of a batch before it, for the W2/W3 workloads.
func randomStreams(r *rand.Rand, batch, steps, vocab int) *data.SeqBatch {
	ids := make([]int, batch*(steps+1))
	for i := range ids {
		ids[i] = r.IntN(vocab)
	}
	sb := &data.SeqBatch{B: batch, T: steps, X: make([]int, batch*steps), Y: make([]int, batch*steps), Continues: true}
	for b := range batch {
		for t := range steps {
			sb.X[b*steps+t] = ids[b*(steps+1)+t]
			sb.Y[b*steps+t] = ids[b*(steps+1)+t+1]
		}
	}
	return sb
}

// benchVocab is a vocabulary of n ids: the unknown symbol and n-1 printable ASCII characters.
func benchVocab(tb testing.TB, n int) *data.Vocab {
	var text []byte
	for c := byte(' '); len(text) < n-1; c++ {
		text = append(text, c)
	}
	v, err := data.NewCharVocab(string(text))
	if err != nil || v.Size() != n {
		tb.Fatalf("a vocabulary of %d ids: %v", n, err)
	}
	return v
}

// benchWorkload trains the W2 (LSTM) or W3 (GRU) network of bench/WORKLOADS.md, as
// bench/torch_reference.py builds it: the language model with one-hot input of a
// 96-character vocabulary, one layer of 256 hidden units, segments of 64 steps with the state
// carried from batch to batch, batch 32, a dense head and softmax cross-entropy at every step,
// Adam 2e-3, global-norm clip 5, one TrainBatch (one segment, one update) a step. The cells see
// the one-hot input and compute its product with W_ih as a gather of W_ih's columns (the same
// network and the same sums; see nodes/internal/ops). It reports training tokens per second of
// the median step after 2 warm-up steps, each step on a batch no earlier step has seen, drawn
// untimed as a data loader would have (WORKLOADS.md asks for the median over at least 10
// steps: run with -benchtime 10x or more), and logs the matrix multiply in use.
func benchWorkload(b *testing.B, kind Kind) {
	const vocab, hidden, steps, batch = 96, 256, 64, 32
	ps := graph.NewParams(graph.Seed(1))
	lm, err := NewLanguageModel(ps, "", benchVocab(b, vocab), Config{Kind: kind, Hidden: hidden})
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := graph.NewFitConfig(graph.Solver(solvers.NewAdam(2e-3)), graph.ClipNorm(5), graph.Segment(steps))
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2 { // warm-up
		if _, err := lm.TrainBatch(randomStreams(r, batch, steps, vocab), cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("gemm %s, %d threads", gemm.Impl(), compute.Threads())
	b.ReportAllocs()
	b.ResetTimer()
	times := make([]float64, 0, b.N)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bt := randomStreams(r, batch, steps, vocab)
		b.StartTimer()
		start := time.Now()
		if _, err := lm.TrainBatch(bt, cfg); err != nil {
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
	g, err := newSegments(net, false).graph(32, steps)
	if err != nil {
		return 0, err
	}
	return len(g.tr.Program().Builder().Graph().AllNodes()), nil
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
		t.Logf("LSTM segment of %d steps, %s cells: %d nodes, built and compiled in %v", c.steps, kind, n, time.Since(start).Round(time.Millisecond))
	}
}
