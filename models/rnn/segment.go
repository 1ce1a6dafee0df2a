package rnn

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/nodes"
)

// Truncated backpropagation through time, by graph segmenting. A training graph unrolls a Net
// over K steps with its initial state (h0, and c0 for an LSTM, per layer and direction) as a
// carried graph input, not a parameter. A batch of T steps is cut into segments of K steps
// (the last one shorter when K does not divide T, in a graph of its own); each segment is one
// training step (forward, backward through its K steps, clipping, the solver's update), and
// its final state value is copied out and fed as the next segment's initial state. No
// gradient crosses a segment boundary: it is the graph form of PyTorch's h.detach(). With
// K = T the whole sequence is one segment: full backpropagation through time.
//
// Between batches the state is reset to zero (independent sequences, random partitioning) or
// carried on (sequential partitioning, where each batch continues the streams of the one
// before); the models' checkpoints save the carried state.

// StateName is the name of a carried state input: the hidden state of a layer and direction
// ("carry.h_l0"), or with cell true an LSTM's memory cell ("carry.c_l1_reverse"). The
// checkpoints of a LanguageModel hold the carried state under these names.
func StateName(cell bool, layer int, reverse bool) string {
	if cell {
		return "carry.c" + LayerSuffix(layer, reverse)
	}
	return "carry.h" + LayerSuffix(layer, reverse)
}

// segmentGraph is a Net unrolled over k steps for batches of b sequences, compiled for
// training, with its initial state as carried inputs named by StateName.
type segmentGraph struct {
	batch, k int
	tr       *graph.Trainer
	feeds    graph.Feeds // the last segment's feeds, whose input tensors the next one reuses
}

// segments holds a Net's training graphs, by batch size and segment length, and the carried
// state: the state after the last segment trained, which lives in the program of the graph
// that trained it (last) or, loaded from a checkpoint, in pending until the next segment.
type segments struct {
	net     *Net
	outputs bool // whether the graphs return the head's output, for the training accuracy
	graphs  map[[2]int]*segmentGraph
	last    *segmentGraph
	pending map[string]*tensor.Dense
}

func newSegments(n *Net, outputs bool) *segments {
	return &segments{net: n, outputs: outputs, graphs: map[[2]int]*segmentGraph{}}
}

// graph returns the training graph for batches of batch sequences and segments of k steps,
// compiling it the first time.
func (s *segments) graph(batch, k int) (*segmentGraph, error) {
	if g, ok := s.graphs[[2]int{batch, k}]; ok {
		return g, nil
	}
	n := s.net
	b := graph.NewBuilder(n.ps, graph.Train)
	init, err := n.stateInputs(b, batch, b.State)
	if err != nil {
		return nil, err
	}
	seq, err := n.Build(b, batch, k, init)
	if err != nil {
		return nil, err
	}
	if err := n.carryFinal(b, seq); err != nil {
		return nil, err
	}
	var opts []graph.TrainOption
	if s.outputs {
		opts = append(opts, graph.WithOutputs(map[string]*gorgonia.Node{"pred": seq.Pred}))
	}
	tr, err := graph.NewTrainer(b, seq.Loss, nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.label(), err)
	}
	g := &segmentGraph{batch: batch, k: k, tr: tr}
	s.graphs[[2]int{batch, k}] = g
	return g, nil
}

// stateInputs declares the initial state of every layer and direction, in the order of Cells,
// as inputs made by declare (Builder.State for carried state, Builder.Input for fed state).
func (n *Net) stateInputs(b *graph.Builder, batch int, declare func(string, ...int) (*gorgonia.Node, error)) ([]nodes.State, error) {
	D := n.rec.Directions()
	init := make([]nodes.State, 0, len(n.Cells()))
	for i, c := range n.Cells() {
		l, rev := i/D, i%D == 1
		var st nodes.State
		var err error
		if st.H, err = declare(StateName(false, l, rev), batch, c.HiddenSize()); err != nil {
			return nil, fmt.Errorf("%s: %w", n.label(), err)
		}
		if c.HasCell() {
			if st.C, err = declare(StateName(true, l, rev), batch, c.HiddenSize()); err != nil {
				return nil, fmt.Errorf("%s: %w", n.label(), err)
			}
		}
		init = append(init, st)
	}
	return init, nil
}

// carryFinal makes the final state of an unrolled graph the next value of its carried state.
func (n *Net) carryFinal(b *graph.Builder, seq *Seq) error {
	D := n.rec.Directions()
	for i, st := range seq.Unrolled.Final {
		l, rev := i/D, i%D == 1
		if err := b.Carry(StateName(false, l, rev), st.H); err != nil {
			return fmt.Errorf("%s: %w", n.label(), err)
		}
		if st.C != nil {
			if err := b.Carry(StateName(true, l, rev), st.C); err != nil {
				return fmt.Errorf("%s: %w", n.label(), err)
			}
		}
	}
	return nil
}

// start makes g's program hold the state its next segment starts from: zero, or the carried
// state (from the checkpoint loaded, or from the graph that trained the last segment).
func (s *segments) start(g *segmentGraph, zero bool) error {
	prog := g.tr.Program()
	switch {
	case zero:
		prog.ResetState()
		s.pending = nil
	case s.pending != nil:
		if err := prog.SetState(s.pending); err != nil {
			return fmt.Errorf("%s: the carried state loaded from the checkpoint does not fit batches of %d sequences: %w", s.net.label(), g.batch, err)
		}
		s.pending = nil
	case s.last == nil:
		prog.ResetState()
	case s.last != g:
		if s.last.batch != g.batch {
			return fmt.Errorf("%s: the state carried from a batch of %d sequences cannot start a batch of %d", s.net.label(), s.last.batch, g.batch)
		}
		if err := prog.SetState(s.last.tr.Program().State()); err != nil {
			return fmt.Errorf("%s: %w", s.net.label(), err)
		}
	}
	return nil
}

// shardPending keeps, of a carried state loaded from a checkpoint for batches of b
// sequences, the rows [lo, hi) that this rank of a data-parallel run trains on (a checkpoint
// of a data-parallel run holds the state of the whole batch, the ranks' rows joined).
func (s *segments) shardPending(b, lo, hi int) {
	for name, v := range s.pending {
		sh := v.Shape()
		if len(sh) != 2 || sh[0] != b {
			continue // checked against the batch when the state is set
		}
		vals := graph.Float64s(v)[lo*sh[1] : hi*sh[1]]
		s.pending[name] = graph.NewTensor(v.Dtype(), []int{hi - lo, sh[1]}, vals)
	}
}

// state returns a copy of the carried state, by StateName, or nil before any training.
func (s *segments) state() map[string]*tensor.Dense {
	switch {
	case s.pending != nil:
		out := make(map[string]*tensor.Dense, len(s.pending))
		for k, v := range s.pending {
			out[k] = v.Clone().(*tensor.Dense)
		}
		return out
	case s.last != nil:
		return s.last.tr.Program().State()
	}
	return nil
}

// segmentLength returns the segment length K that cfg asks for batches of T steps (the whole
// sequence when Segment is 0 or at least T), or an error when the net cannot be trained in
// segments shorter than its sequences.
func (n *Net) segmentLength(cfg *graph.FitConfig, T int) (int, error) {
	k := cfg.Segment
	if k <= 0 || k >= T {
		return T, nil
	}
	l := n.label()
	switch {
	case n.cfg.readout != EveryStep:
		return 0, fmt.Errorf("%s: a %v readout has one loss at the end of the sequence, so truncated backpropagation through time cannot train it: Segment(%d) is shorter than the %d steps (use 0 or %d)", l, n.cfg.readout, k, T, T)
	case n.rec.Directions() == 2:
		return 0, fmt.Errorf("%s: a bidirectional network must see the whole sequence: Segment(%d) is shorter than the %d steps (use 0 or %d)", l, k, T, T)
	}
	return k, nil
}

// trainBatch trains on one batch: its segments in order, one update each, the state passed
// from segment to segment and, with carry, from the batch before; without it every batch
// starts from zero. When a segment fails (a loss or gradient that is not finite), the
// segments before it have been applied and the failing one changed nothing.
func (s *segments) trainBatch(bt *data.SequenceBatch, cfg *graph.FitConfig, carry bool) (graph.BatchStats, error) {
	n := s.net
	if err := n.CheckBatch(bt); err != nil {
		return graph.BatchStats{}, err
	}
	B, T := bt.Size(), bt.Steps()
	k, err := n.segmentLength(cfg, T)
	if err != nil {
		return graph.BatchStats{}, err
	}
	if carry && n.rec.Directions() == 2 {
		return graph.BatchStats{}, fmt.Errorf("%s: a bidirectional network reads each sequence backwards too, so its state cannot be carried from batch to batch", n.label())
	}
	st := graph.BatchStats{Correct: -1}
	if s.outputs {
		st.Correct = 0
	}
	var total, weight float64
	for from := 0; from < T; from += k {
		steps := min(k, T-from)
		g, err := s.graph(B, steps)
		if err != nil {
			return st, err
		}
		if err := s.start(g, from == 0 && !carry); err != nil {
			return st, err
		}
		if g.feeds, err = n.feedsInto(g.feeds, bt, from, steps, nil); err != nil {
			return st, err
		}
		g.tr.SetSolver(cfg.Solver)
		g.tr.SetGroup(cfg.Group)
		if err := g.tr.SetClip(cfg.Clip); err != nil {
			return st, err
		}
		r, err := g.tr.Step(g.feeds)
		if err != nil {
			return st, fmt.Errorf("segment %d of %d: %w", from/k+1, (T+k-1)/k, err)
		}
		s.last = g
		w := n.realSteps(bt, from, steps)
		total += w * r.Loss
		weight += w
		st.GradNorm = math.Max(st.GradNorm, r.GradNorm)
		if s.outputs {
			st.Correct += n.correct(r.Outputs["pred"], bt, from, steps)
		}
	}
	if weight > 0 {
		st.Loss = total / weight
	}
	st.Examples = n.examples(bt)
	return st, nil
}

// realSteps is the number of real (unmasked) steps of steps [from, from+k) of a batch, all of
// them without a mask.
func (n *Net) realSteps(bt *data.SequenceBatch, from, k int) float64 {
	B, T := bt.Size(), bt.Steps()
	if bt.Mask == nil {
		return float64(B * k)
	}
	m := graph.Float64s(bt.Mask)
	sum := 0.0
	for b := range B {
		for t := from; t < from+k; t++ {
			sum += m[b*T+t]
		}
	}
	return sum
}

// examples is what a batch counts for the training statistics: its real steps for an
// every-step readout, its sequences otherwise.
func (n *Net) examples(bt *data.SequenceBatch) int {
	if n.cfg.readout == EveryStep {
		return int(n.realSteps(bt, 0, bt.Steps()))
	}
	return bt.Size()
}

// correct counts the predictions of the head's output pred (logits of steps [from, from+k),
// time-major, for EveryStep; of the sequences otherwise) whose likeliest class is the
// target, over the real steps.
func (n *Net) correct(pred *tensor.Dense, bt *data.SequenceBatch, from, k int) int {
	if pred == nil || n.cfg.loss != CrossEntropy {
		return 0
	}
	logits, y := graph.Float64s(pred), graph.Float64s(bt.Y)
	B, T := bt.Size(), bt.Steps()
	var m []float64
	if bt.Mask != nil {
		m = graph.Float64s(bt.Mask)
	}
	count := 0
	if n.cfg.readout != EveryStep {
		for b := range B {
			if compute.ArgMax(logits[b*n.out:(b+1)*n.out]) == int(y[b]) {
				count++
			}
		}
		return count
	}
	for t := range k {
		for b := range B {
			if m != nil && m[b*T+from+t] == 0 {
				continue
			}
			r := t*B + b
			if compute.ArgMax(logits[r*n.out:(r+1)*n.out]) == int(y[b*T+from+t]) {
				count++
			}
		}
	}
	return count
}

// segmentGradients is one segment's loss and gradients and the state it started from.
type segmentGradients struct {
	Loss    float64
	Grads   map[string]*tensor.Dense // by parameter name
	Initial map[string]*tensor.Dense // the state the segment started from, by StateName
}

// gradients computes, for each segment of k steps of a batch in turn, the loss and the
// gradients of the parameters without updating them, passing the state from segment to
// segment as training does, from zero state. It shows what truncation means: each segment's
// gradient is that of its own loss, with its initial state held fixed.
func (s *segments) gradients(bt *data.SequenceBatch, k int) ([]segmentGradients, error) {
	n := s.net
	if err := n.CheckBatch(bt); err != nil {
		return nil, err
	}
	B, T := bt.Size(), bt.Steps()
	cfg := &graph.FitConfig{Segment: k}
	if _, err := n.segmentLength(cfg, T); err != nil {
		return nil, err
	}
	saved := map[*segmentGraph]map[string]*tensor.Dense{} // the carried state, put back at the end
	defer func() {
		for g, st := range saved {
			_ = g.tr.Program().SetState(st) // its own names and shapes
		}
	}()
	var out []segmentGradients
	var state map[string]*tensor.Dense
	for from := 0; from < T; from += k {
		steps := min(k, T-from)
		g, err := s.graph(B, steps)
		if err != nil {
			return nil, err
		}
		prog := g.tr.Program()
		if _, ok := saved[g]; !ok {
			saved[g] = prog.State()
		}
		prog.ResetState()
		if state != nil {
			if err := prog.SetState(state); err != nil {
				return nil, err
			}
		}
		feeds, err := n.Feeds(bt, from, steps)
		if err != nil {
			return nil, err
		}
		init := prog.State()
		loss, grads, err := g.tr.Gradients(feeds)
		if err != nil {
			return nil, err
		}
		out = append(out, segmentGradients{Loss: loss, Grads: grads, Initial: init})
		if _, err := prog.Run(feeds); err != nil { // carries the final state on
			return nil, err
		}
		state = prog.State()
	}
	return out, nil
}
