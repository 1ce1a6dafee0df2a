package rnn

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/solvers"
)

// randSet is a set of n random sequences for net (see randBatch).
func randSet(r *rand.Rand, net *Net, n, steps int, lengths []int) *data.SequenceSet {
	bt := randBatch(r, net, n, steps, lengths)
	return &data.SequenceSet{X: bt.X, Y: bt.Y, Mask: bt.Mask}
}

// lengthsOf returns n sequence lengths between 1 and steps.
func lengthsOf(r *rand.Rand, n, steps int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1 + r.IntN(steps)
	}
	return out
}

// forward runs net over the whole set in one graph and returns the head's output as the
// graph gives it: time-major rows for EveryStep.
func forward(t *testing.T, net *Net, set *data.SequenceSet) []float64 {
	t.Helper()
	N, T := set.Len(), set.Steps()
	b := graph.NewBuilder(net.Params(), graph.Eval)
	seq, err := net.Build(b, N, T, nil)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"pred": seq.Pred})
	if err != nil {
		t.Fatal(err)
	}
	f, err := net.Feeds(&data.SequenceBatch{X: set.X, Y: set.Y, Mask: set.Mask}, 0, T)
	if err != nil {
		t.Fatal(err)
	}
	out, err := prog.Run(f)
	if err != nil {
		t.Fatal(err)
	}
	return graph.Float64s(out["pred"])
}

// Predict decodes the graph's output, time-major for every step, into batch-major predictions
// (classes, probabilities that sum to 1, values; padded steps marked), and Evaluate's accuracy
// is the share of those predictions that hit the targets, over the real steps.
func TestNetPredictAndEvaluate(t *testing.T) {
	const n, steps, out = 300, 5, 3 // 300 sequences: two evaluation chunks
	for name, opts := range map[string][]Option{
		"every step, cross-entropy, masked": {Masked()},
		"last state, cross-entropy, masked": {Masked(), WithReadout(LastState)},
		"mean pool, mse, masked":            {Masked(), WithReadout(MeanPool), WithLoss(MSE)},
		"every step, mse":                   {WithLoss(MSE), Layers(2)},
	} {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			ps := graph.NewParams(graph.Seed(2), graph.Dtype(tensor.Float64))
			net, err := NewNet(ps, "net", GRU, 2, 5, out, opts...)
			if err != nil {
				t.Fatal(err)
			}
			var lengths []int
			if net.Masked() {
				lengths = lengthsOf(r, n, steps)
			}
			set := randSet(r, net, n, steps, lengths)
			p, err := net.Predict(&data.SequenceSet{X: set.X, Mask: set.Mask}) // no targets needed
			if err != nil {
				t.Fatal(err)
			}
			T := 1
			if net.Readout() == EveryStep {
				T = steps
			}
			if p.N != n || p.T != T || p.Out != out {
				t.Fatalf("prediction of %d x %d x %d, want %d x %d x %d", p.N, p.T, p.Out, n, T, out)
			}
			raw := forward(t, net, set)
			y := graph.Float64s(set.Y)
			real, hits := 0, 0
			for i := range n {
				for s := range T {
					row := i // the graph's row
					if T > 1 {
						row = s*n + i
					}
					want := raw[row*out : (row+1)*out]
					at := (i*T + s) * out
					pad := lengths != nil && T > 1 && s >= lengths[i]
					if net.Loss() == MSE {
						for j, v := range want {
							if w := map[bool]float64{false: v}[pad]; math.Abs(p.Values[at+j]-w) > 1e-12 {
								t.Fatalf("sequence %d, step %d: value %v, the graph gives %v (padded %v)", i, s, p.Values[at:at+out], want, pad)
							}
						}
						continue
					}
					c := p.Classes[i*T+s]
					if pad {
						if c != -1 || slices.Max(p.Probs[at:at+out]) != 0 {
							t.Fatalf("sequence %d, padded step %d: class %d, probabilities %v", i, s, c, p.Probs[at:at+out])
						}
						continue
					}
					if c != compute.ArgMax(want) {
						t.Fatalf("sequence %d, step %d: class %d, the graph's likeliest %d", i, s, c, compute.ArgMax(want))
					}
					sum := 0.0
					for _, q := range p.Probs[at : at+out] {
						sum += q
					}
					if math.Abs(sum-1) > 1e-12 {
						t.Fatalf("sequence %d, step %d: probabilities sum to %v", i, s, sum)
					}
					real++
					if float64(c) == y[i*T+s] {
						hits++
					}
				}
			}
			m, err := net.Evaluate(set)
			if err != nil {
				t.Fatal(err)
			}
			if net.Loss() == MSE {
				if m.HasAccuracy || !(m.Loss > 0) {
					t.Errorf("metrics %+v", m)
				}
				return
			}
			if m.N != real || !m.HasAccuracy || m.Accuracy != float64(hits)/float64(real) {
				t.Errorf("Evaluate: accuracy %v over %d, Predict gives %d of %d", m.Accuracy, m.N, hits, real)
			}
		})
	}
}

// fitNet builds the test net for the training tests: a GRU tagger with dropout, so that the
// random source matters.
func fitNet(t *testing.T, seed uint64, opts ...Option) *Net {
	t.Helper()
	ps := graph.NewParams(graph.Seed(seed))
	net, err := NewNet(ps, "tagger", GRU, 2, 6, 3, append([]Option{Layers(2), Dropout(0.2), Masked()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return net
}

func trainingSet(t *testing.T) *data.SequenceSet {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	probe := fitNet(t, 1)
	return randSet(r, probe, 22, 6, lengthsOf(r, 22, 6))
}

func sameParams(t *testing.T, a, b *graph.Params) bool {
	t.Helper()
	for _, e := range a.Entries() {
		if !slices.Equal(graph.Float64s(e.Value), graph.Float64s(b.Value(e.Name))) {
			return false
		}
	}
	return true
}

// Net.Fit shuffles the sequences in a new order each epoch, drawn from the parameters' random
// source: it trains exactly as a loop over data.Sequences shuffled from the same source, and
// not as one over the set's order.
func TestNetFitShufflesFromTheSeed(t *testing.T) {
	set := trainingSet(t)
	fitted := fitNet(t, 3)
	opts := []graph.FitOption{graph.Epochs(2), graph.Batch(4), graph.Solver(solvers.NewAdam(0.01))}
	if _, err := fitted.Fit(set, opts...); err != nil {
		t.Fatal(err)
	}
	by := func(shuffle bool) *Net {
		net := fitNet(t, 3)
		bopts := []data.BatchOption{data.DropLast()}
		if shuffle {
			bopts = append(bopts, data.Shuffle(net.Params().Rand()))
		}
		seqs, err := data.NewSequences(set, 4, bopts...)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := graph.NewFitConfig(graph.Solver(solvers.NewAdam(0.01)))
		for range 2 {
			p := seqs.Pass()
			for bt, ok := p.Next(); ok; bt, ok = p.Next() {
				if _, err := net.TrainBatch(bt, cfg); err != nil {
					t.Fatal(err)
				}
			}
		}
		return net
	}
	if !sameParams(t, fitted.Params(), by(true).Params()) {
		t.Error("Fit does not train as a loop over the set shuffled from the parameters' random source")
	}
	if sameParams(t, fitted.Params(), by(false).Params()) {
		t.Error("Fit trains as a loop over the set in its own order: it does not shuffle")
	}
	if h := fitted.Run().History(); len(h.Epochs) != 2 || h.Epochs[0].Steps != 5 || h.Epochs[1].Steps != 5 {
		t.Errorf("history %+v: want 2 epochs of 5 batches (22 sequences, batches of 4, the short one dropped)", h.Epochs)
	}
}

// Epochs is a count to run: a second Fit of 2 epochs after one of 1 trains exactly as one Fit of
// 3, every epoch on every batch.
func TestNetSecondFitContinues(t *testing.T) {
	set := trainingSet(t)
	// Each net gets its own solver: a solver keeps its state by parameter name.
	opts := func() []graph.FitOption {
		return []graph.FitOption{graph.Batch(4), graph.Solver(solvers.NewAdam(0.01)), graph.Segment(3)}
	}
	once := fitNet(t, 4)
	if _, err := once.Fit(set, append(opts(), graph.Epochs(3))...); err != nil {
		t.Fatal(err)
	}
	twice := fitNet(t, 4)
	if _, err := twice.Fit(set, append(opts(), graph.Epochs(1))...); err != nil {
		t.Fatal(err)
	}
	h, err := twice.Fit(set, graph.Epochs(2), graph.Batch(4), graph.Segment(3)) // the solver is the first call's
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Epochs) != 3 || twice.Run().Steps() != 15 {
		t.Fatalf("after Fit(1 epoch) and Fit(2 epochs): %d epochs, %d steps; want 3 and 15", len(h.Epochs), twice.Run().Steps())
	}
	for _, e := range h.Epochs {
		if e.Steps != 5 {
			t.Errorf("epoch %d trained on %d batches, want 5", e.Epoch, e.Steps)
		}
	}
	if !sameParams(t, twice.Params(), once.Params()) {
		t.Error("Fit(1 epoch) then Fit(2 epochs) differs from Fit(3 epochs)")
	}
	if twice.Run().Solver().Steps() != 30 {
		t.Errorf("%d updates, want 30 (two segments a batch)", twice.Run().Solver().Steps())
	}
}

// A readout with one loss at the end of the sequence, or a bidirectional network, cannot be
// trained in segments shorter than the sequence: Fit says so before any training.
func TestNetFitRefusesShortSegments(t *testing.T) {
	set := trainingSet(t)
	for _, c := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithReadout(LastState)}, "tagger: a last state readout has one loss at the end of the sequence, so truncated backpropagation through time cannot train it: Segment(2) is shorter than the 6 steps (use 0 or 6)"},
		{[]Option{WithReadout(MeanPool)}, "tagger: a mean pool readout has one loss at the end of the sequence"},
		{[]Option{Bidirectional()}, "tagger: a bidirectional network must see the whole sequence: Segment(2) is shorter than the 6 steps"},
	} {
		net := fitNet(t, 5, c.opts...)
		before := net.Params().Clone(tensor.Float32)
		y := set.Y
		if net.Readout() != EveryStep {
			y = graph.NewTensor(tensor.Float64, []int{set.Len()}, nil)
		}
		_, err := net.Fit(&data.SequenceSet{X: set.X, Y: y, Mask: set.Mask}, graph.Segment(2), graph.Batch(4))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.opts, err, c.want)
		}
		if net.Run().Steps() != 0 || !sameParams(t, before, net.Params()) {
			t.Errorf("%v: trained before refusing", c.opts)
		}
	}
}

// A checkpoint taken in mid-epoch holds everything: a net of another seed that loads it and
// continues trains exactly as the uninterrupted net (the shuffled order, the position in it,
// the dropout draws, the solver); LoadWeights alone gives the same predictions; a checkpoint
// of another net is refused without changing anything.
func TestNetCheckpointResume(t *testing.T) {
	set := trainingSet(t)
	opts := func() []graph.FitOption { // a solver each: it keeps its state by parameter name
		return []graph.FitOption{graph.Batch(4), graph.Solver(solvers.NewAdam(0.01)), graph.ClipNorm(1)}
	}
	straight := fitNet(t, 6)
	if _, err := straight.Fit(set, append(opts(), graph.Steps(7))...); err != nil {
		t.Fatal(err)
	}
	half := fitNet(t, 6)
	path := filepath.Join(t.TempDir(), "net.safetensors")
	if _, err := half.Fit(set, append(opts(), graph.Steps(3), graph.Checkpoints(path, 0))...); err != nil {
		t.Fatal(err)
	}
	resumed := fitNet(t, 99)
	if err := resumed.LoadCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	if resumed.Run().Steps() != 3 {
		t.Fatalf("resumed at step %d, want 3", resumed.Run().Steps())
	}
	if _, err := resumed.Fit(set, append(opts(), graph.Steps(4))...); err != nil {
		t.Fatal(err)
	}
	if !sameParams(t, straight.Params(), resumed.Params()) {
		t.Fatal("the resumed net differs from the uninterrupted one")
	}
	if a, b := straight.Run().History(), resumed.Run().History(); len(a.Epochs) != 1 || a.Epochs[0].TrainLoss != b.Epochs[0].TrainLoss {
		t.Errorf("histories differ: %+v and %+v", a.Epochs, b.Epochs)
	}

	weights := fitNet(t, 42)
	if err := weights.LoadWeights(path); err != nil {
		t.Fatal(err)
	}
	p1, err := half.Predict(set)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := weights.Predict(set)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p1.Probs, p2.Probs) {
		t.Error("weights loaded alone predict otherwise")
	}

	other := fitNet(t, 6, WithReadout(LastState))
	before := other.Params().Clone(tensor.Float32)
	if err := other.LoadCheckpoint(path); err == nil || !strings.Contains(err.Error(), "holds another model") {
		t.Errorf("a checkpoint of an every-step net loaded into a last-state one: %v", err)
	}
	if !sameParams(t, before, other.Params()) {
		t.Error("a refused checkpoint changed the net")
	}
}
