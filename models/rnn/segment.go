package rnn

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// SegmentTrainer trains a Net by truncated backpropagation through time, by graph segmenting.
// It compiles one graph of K steps whose initial state (h0, and c0 for an LSTM, per layer and
// direction) is a graph input, not a parameter. A batch of T steps is cut into T/K segments;
// each is one training step (forward, backward through its K steps, clipping, the solver's
// update), and the segment's final state value is copied out and fed as the next segment's
// initial state. No gradient crosses a segment boundary: it is the graph form of PyTorch's
// h.detach(). With K = T the whole sequence is one segment: full backpropagation through
// time.
//
// Across batches the state is carried too (the default, for sequential partitioning, where
// each batch continues the streams of the previous one) or reset to zero (ZeroState, for
// random partitioning or independent sequences, where carrying makes no sense). The carried
// state is part of the trainer's checkpoints.
type SegmentTrainer struct {
	net    *Net
	batch  int
	k      int
	carry  bool
	tr     *graph.Trainer
	names  []string // the state inputs, in the order of Net.Cells: h (and c) per cell
	solver solvers.Solver
	feeds  graph.Feeds // the last segment's feeds, whose input tensors the next one reuses
}

// TrainerOption configures NewSegmentTrainer.
type TrainerOption func(*trainerConfig)

type trainerConfig struct {
	zero bool
	clip float64
}

// ZeroState starts every batch from zero state instead of carrying the state over from the
// previous batch. Segments within one batch always pass their state on.
func ZeroState() TrainerOption { return func(c *trainerConfig) { c.zero = true } }

// ClipNorm rescales each segment's gradients to a global L2 norm of at most max (0: off).
func ClipNorm(max float64) TrainerOption { return func(c *trainerConfig) { c.clip = max } }

// StateName is the name of a carried state input: the hidden state of a layer and direction
// ("carry.h_l0"), or with cell true an LSTM's memory cell ("carry.c_l1_reverse").
func StateName(cell bool, layer int, reverse bool) string {
	if cell {
		return "carry.c" + LayerSuffix(layer, reverse)
	}
	return "carry.h" + LayerSuffix(layer, reverse)
}

// NewSegmentTrainer compiles the K-step segment graph of net for batches of size batch and
// returns a trainer updating net's parameters with s.
func NewSegmentTrainer(net *Net, s solvers.Solver, batch, k int, opts ...TrainerOption) (*SegmentTrainer, error) {
	var cfg trainerConfig
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case net == nil || s == nil:
		return nil, fmt.Errorf("segment trainer: needs a net and a solver")
	case batch < 1:
		return nil, fmt.Errorf("segment trainer: batch size %d must be positive", batch)
	case k < 1:
		return nil, fmt.Errorf("segment trainer: segment length K = %d must be at least 1", k)
	case net.rec.Directions() == 2 && !cfg.zero:
		return nil, fmt.Errorf("segment trainer: a bidirectional network reads each sequence backwards too, so its state cannot be carried from batch to batch: use ZeroState")
	}
	t := &SegmentTrainer{net: net, batch: batch, k: k, carry: !cfg.zero, solver: s}
	b := graph.NewBuilder(net.ps, graph.Train)
	D := net.rec.Directions()
	init := make([]nodes.State, 0, len(net.Cells()))
	for i, c := range net.Cells() {
		l, rev := i/D, i%D == 1
		var st nodes.State
		var err error
		name := StateName(false, l, rev)
		if st.H, err = b.State(name, batch, c.HiddenSize()); err != nil {
			return nil, fmt.Errorf("segment trainer: %w", err)
		}
		t.names = append(t.names, name)
		if c.HasCell() {
			name := StateName(true, l, rev)
			if st.C, err = b.State(name, batch, c.HiddenSize()); err != nil {
				return nil, fmt.Errorf("segment trainer: %w", err)
			}
			t.names = append(t.names, name)
		}
		init = append(init, st)
	}
	seq, err := net.Build(b, batch, k, init)
	if err != nil {
		return nil, err
	}
	for i, st := range seq.Unrolled.Final {
		l, rev := i/D, i%D == 1
		if err := b.Carry(StateName(false, l, rev), st.H); err != nil {
			return nil, fmt.Errorf("segment trainer: %w", err)
		}
		if st.C != nil {
			if err := b.Carry(StateName(true, l, rev), st.C); err != nil {
				return nil, fmt.Errorf("segment trainer: %w", err)
			}
		}
	}
	if t.tr, err = graph.NewTrainer(b, seq.Loss, s, graph.ClipNorm(cfg.clip)); err != nil {
		return nil, fmt.Errorf("segment trainer: %w", err)
	}
	return t, nil
}

// Segment is K, the number of steps of the compiled graph.
func (t *SegmentTrainer) Segment() int { return t.k }

// Trainer is the underlying graph trainer; its Program holds the carried state.
func (t *SegmentTrainer) Trainer() *graph.Trainer { return t.tr }

// StateNames lists the carried state inputs in the order of Net.Cells (h, then c for an LSTM).
func (t *SegmentTrainer) StateNames() []string { return slices.Clone(t.names) }

// StepResult is what training on one batch measured.
type StepResult struct {
	Loss     float64   // the batch's loss: the segments' losses weighted by their real steps
	Losses   []float64 // each segment's loss
	GradNorm float64   // the largest segment gradient norm before clipping
	Updates  int       // the solver's update count after the batch
}

// segments checks a batch against the trainer and returns its number of segments.
func (t *SegmentTrainer) segments(bt *Batch) (int, error) {
	if err := t.net.CheckBatch(bt); err != nil {
		return 0, err
	}
	B, T := bt.Size(), bt.Steps()
	switch {
	case B != t.batch:
		return 0, fmt.Errorf("segment trainer: batch of %d sequences, the graph is compiled for %d", B, t.batch)
	case T%t.k != 0:
		return 0, fmt.Errorf("segment trainer: %d steps are not a whole number of segments of K = %d", T, t.k)
	case T != t.k && t.net.Readout() != EveryStep:
		return 0, fmt.Errorf("segment trainer: a %v readout has one loss at the end of the sequence: K must equal the %d steps, is %d", t.net.Readout(), T, t.k)
	case T != t.k && t.net.rec.Directions() == 2:
		return 0, fmt.Errorf("segment trainer: a bidirectional network must see the whole sequence: K must equal the %d steps, is %d", T, t.k)
	}
	return T / t.k, nil
}

// segmentWeight is the number of real steps of a segment (all of them without a mask).
func (t *SegmentTrainer) segmentWeight(bt *Batch, s int) float64 {
	if bt.Mask == nil {
		return float64(t.batch * t.k)
	}
	m, T := graph.Float64s(bt.Mask), bt.Steps()
	sum := 0.0
	for b := 0; b < t.batch; b++ {
		for i := s * t.k; i < (s+1)*t.k; i++ {
			sum += m[b*T+i]
		}
	}
	return sum
}

// Step trains on one batch: T/K segments in order, one update each, the state passed from
// segment to segment. When a segment fails (a loss or gradient that is not finite), the
// segments before it have been applied and the failing one changed nothing.
func (t *SegmentTrainer) Step(bt *Batch) (*StepResult, error) {
	n, err := t.segments(bt)
	if err != nil {
		return nil, err
	}
	if !t.carry {
		t.tr.Program().ResetState()
	}
	res := &StepResult{}
	var total, weight float64
	for s := 0; s < n; s++ {
		feeds, err := t.net.feedsInto(t.feeds, bt, s*t.k, t.k, nil)
		if err != nil {
			return nil, err
		}
		t.feeds = feeds
		r, err := t.tr.Step(feeds)
		if err != nil {
			return nil, fmt.Errorf("segment %d of %d: %w", s+1, n, err)
		}
		w := t.segmentWeight(bt, s)
		total += w * r.Loss
		weight += w
		res.Losses = append(res.Losses, r.Loss)
		res.GradNorm = math.Max(res.GradNorm, r.GradNorm)
		res.Updates = r.Step
	}
	if weight > 0 {
		res.Loss = total / weight
	}
	return res, nil
}

// SegmentGradients is one segment's loss and gradients and the state it started from.
type SegmentGradients struct {
	Loss    float64
	Grads   map[string]*tensor.Dense // by parameter name
	Initial map[string]*tensor.Dense // the carried state the segment started from, by StateNames
}

// Gradients computes, for each segment of a batch in turn, the loss and the gradients of the
// parameters without updating them, passing the state from segment to segment as Step does
// (starting from the carried state, or from zero with ZeroState). It leaves the trainer as it
// was, except that a net with dropout draws its masks from the random source. It shows what
// truncation means: each segment's gradient is that of its own loss, with its initial state
// held fixed.
func (t *SegmentTrainer) Gradients(bt *Batch) ([]SegmentGradients, error) {
	n, err := t.segments(bt)
	if err != nil {
		return nil, err
	}
	prog := t.tr.Program()
	saved := prog.State()
	defer func() { _ = prog.SetState(saved) }() // names and shapes are its own
	if !t.carry {
		prog.ResetState()
	}
	var out []SegmentGradients
	for s := 0; s < n; s++ {
		feeds, err := t.net.Feeds(bt, s*t.k, t.k)
		if err != nil {
			return nil, err
		}
		init := prog.State()
		loss, grads, err := t.tr.Gradients(feeds)
		if err != nil {
			return nil, fmt.Errorf("segment %d of %d: %w", s+1, n, err)
		}
		out = append(out, SegmentGradients{Loss: loss, Grads: grads, Initial: init})
		if s+1 < n {
			if _, err := prog.Run(feeds); err != nil { // carries the final state on
				return nil, fmt.Errorf("segment %d of %d: %w", s+1, n, err)
			}
		}
	}
	return out, nil
}

// State returns a copy of the carried state, by StateNames.
func (t *SegmentTrainer) State() map[string]*tensor.Dense { return t.tr.Program().State() }

// ResetState sets the carried state to zero: the start of new sequences.
func (t *SegmentTrainer) ResetState() { t.tr.Program().ResetState() }

// SaveCheckpoint writes the parameters, the solver's state, the random source and the carried
// state (under its StateNames, in the checkpoint's extra tensors) with whatever extra the
// caller adds (a data iterator's position, for instance).
func (t *SegmentTrainer) SaveCheckpoint(path string, extra *graph.Extra) error {
	e := &graph.Extra{Tensors: map[string]*tensor.Dense{}}
	if extra != nil {
		e.Blobs, e.Meta = extra.Blobs, extra.Meta
		maps.Copy(e.Tensors, extra.Tensors)
	}
	for name, v := range t.State() {
		if _, taken := e.Tensors[name]; taken {
			return fmt.Errorf("checkpoint %s: extra tensor %q is the name of a carried state", path, name)
		}
		e.Tensors[name] = v
	}
	return graph.SaveCheckpoint(path, t.net.ps, t.solver, e)
}

// LoadCheckpoint restores what SaveCheckpoint wrote: parameters, solver, random source and
// carried state. It returns the caller's extra, without the carried state.
func (t *SegmentTrainer) LoadCheckpoint(path string) (*graph.Extra, error) {
	c, err := graph.ReadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	state := map[string]*tensor.Dense{}
	for _, name := range t.names {
		v, ok := c.Extra.Tensors[name]
		if !ok {
			return nil, fmt.Errorf("checkpoint %s has no carried state %q", path, name)
		}
		state[name] = v
	}
	cur := t.State()
	for name, v := range state {
		if !v.Shape().Eq(cur[name].Shape()) {
			return nil, fmt.Errorf("checkpoint %s: carried state %q has shape %v, the trainer %v", path, name, v.Shape(), cur[name].Shape())
		}
	}
	if err := c.Restore(t.net.ps, t.solver); err != nil {
		return nil, err
	}
	if err := t.tr.Program().SetState(state); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	for _, name := range t.names {
		delete(c.Extra.Tensors, name)
	}
	return c.Extra, nil
}

// Iterator yields batches; Next returns false when there are no more.
type Iterator interface {
	Next() (*Batch, bool)
}

// Run trains on up to n batches from it (all of them when n <= 0), calling each, when not
// nil, after every batch with the batch's index. It stops at the first error.
func (t *SegmentTrainer) Run(it Iterator, n int, each func(i int, r *StepResult)) error {
	for i := 0; n <= 0 || i < n; i++ {
		bt, ok := it.Next()
		if !ok {
			return nil
		}
		r, err := t.Step(bt)
		if err != nil {
			return fmt.Errorf("batch %d: %w", i, err)
		}
		if each != nil {
			each(i, r)
		}
	}
	return nil
}
