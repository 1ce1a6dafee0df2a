package rnn

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// Readout says where a Net's output head reads the recurrent network.
type Readout int

const (
	// EveryStep puts the head on every step's output: one prediction per step (sequence
	// labelling, language models). The loss is the mean over the real (unmasked) steps.
	EveryStep Readout = iota
	// LastState puts the head on the top layer's final hidden state: one prediction per
	// sequence (sequence to one). With a mask, the final state is the one after each
	// sequence's last real step; a bidirectional network puts both directions' final states
	// side by side.
	LastState
	// MeanPool puts the head on the mean of the top layer's outputs over each sequence's
	// real steps: one prediction per sequence.
	MeanPool
)

func (r Readout) String() string {
	switch r {
	case LastState:
		return "last state"
	case MeanPool:
		return "mean pool"
	}
	return "every step"
}

// Loss is a Net's training objective.
type Loss int

const (
	// CrossEntropy is the softmax cross-entropy of the head's logits against class ids.
	CrossEntropy Loss = iota
	// MSE is the mean squared error of the head's outputs against target vectors.
	MSE
)

func (l Loss) String() string {
	if l == MSE {
		return "mse"
	}
	return "cross-entropy"
}

// Embed makes a Net read token ids in [0, vocab) through an embedding (nodes.Embedding) whose
// vectors are the recurrent network's input: Batch.X then holds ids, (B, T).
func Embed(vocab int) Option {
	return func(c *config) { c.vocab = vocab; c.netOnly = append(c.netOnly, "Embed") }
}

// WithReadout sets where the head reads the network (default EveryStep).
func WithReadout(r Readout) Option {
	return func(c *config) { c.readout = r; c.netOnly = append(c.netOnly, "WithReadout") }
}

// WithLoss sets the objective (default CrossEntropy).
func WithLoss(l Loss) Option {
	return func(c *config) { c.loss = l; c.netOnly = append(c.netOnly, "WithLoss") }
}

// Masked makes a Net take a mask for variable-length sequences: every Batch must then carry
// Batch.Mask, and padded steps change neither the state nor the loss.
func Masked() Option {
	return func(c *config) { c.masked = true; c.netOnly = append(c.netOnly, "Masked") }
}

// Net is a complete recurrent model: an optional embedding, a Recurrent network and a dense
// output head, with its loss. It is what the SegmentTrainer trains and the gradient-flow probe
// examines. With O_t the top layer's output at step t,
//
//	EveryStep:  ŷ_t = O_t W_headᵀ + b_head for every step t
//	LastState:  ŷ = h_T W_headᵀ + b_head (the top layer's final hidden state)
//	MeanPool:   ŷ = (Σ_t m_t O_t / Σ_t m_t) W_headᵀ + b_head
//
// Parameters, for a net called name: "<name>.embed.weight" (with Embed), the recurrent
// network's "<name>.rnn.weight_ih_l0" and so on, "<name>.head.weight" and "<name>.head.bias":
// the state_dict of a PyTorch module holding submodules embed, rnn (nn.RNN, nn.LSTM or nn.GRU
// with batch_first=True) and head (nn.Linear). With an empty name the prefix is left out
// ("rnn.weight_ih_l0").
type Net struct {
	name     string
	cfg      config
	in, out  int
	ps       *graph.Params
	dtype    tensor.Dtype
	embed    *nodes.Embedding
	rec      *Recurrent
	head     *nodes.Dense
	headName string
}

// NewNet creates a Net in ps: in input features per step (or, with Embed, the embedding
// width), hidden features per direction and layer, out outputs per prediction (classes for
// CrossEntropy, values for MSE).
func NewNet(ps *graph.Params, name string, kind Kind, in, hidden, out int, opts ...Option) (*Net, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	label := name
	if label == "" {
		label = "net"
	}
	switch {
	case out < 1:
		return nil, fmt.Errorf("%s: %d outputs, need at least 1", label, out)
	case cfg.vocab < 0:
		return nil, fmt.Errorf("%s: vocabulary of %d ids", label, cfg.vocab)
	case cfg.readout < EveryStep || cfg.readout > MeanPool:
		return nil, fmt.Errorf("%s: unknown readout %d", label, int(cfg.readout))
	case cfg.loss != CrossEntropy && cfg.loss != MSE:
		return nil, fmt.Errorf("%s: unknown loss %d", label, int(cfg.loss))
	}
	n := &Net{name: name, cfg: cfg, in: in, out: out, ps: ps, dtype: ps.Dtype()}
	if cfg.vocab > 0 {
		e, err := nodes.NewEmbedding(ps, n.param("embed"), cfg.vocab, in)
		if err != nil {
			return nil, err
		}
		n.embed = e
	}
	rec, err := newRecurrent(ps, n.param("rnn"), kind, in, hidden, cfg)
	if err != nil {
		return nil, err
	}
	n.rec = rec
	n.headName = n.param("head")
	width := rec.OutputSize()
	if cfg.readout == LastState {
		width = rec.HiddenSize() * rec.Directions()
	}
	if n.head, err = nodes.NewDense(ps, n.headName, width, out); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *Net) param(part string) string {
	if n.name == "" {
		return part
	}
	return n.name + "." + part
}

func (n *Net) label() string {
	if n.name == "" {
		return "net"
	}
	return n.name
}

// Params is the parameter set the net was created in.
func (n *Net) Params() *graph.Params { return n.ps }

// Recurrent is the net's recurrent network.
func (n *Net) Recurrent() *Recurrent { return n.rec }

// Readout is where the head reads the network.
func (n *Net) Readout() Readout { return n.cfg.readout }

// Loss is the net's objective.
func (n *Net) Loss() Loss { return n.cfg.loss }

// Masked reports whether the net takes a mask.
func (n *Net) Masked() bool { return n.cfg.masked }

// Embeds reports whether the net reads token ids.
func (n *Net) Embeds() bool { return n.embed != nil }

// Cells lists the recurrent cells whose state a segment carries, in PyTorch's h_n order.
func (n *Net) Cells() []nodes.Cell { return n.rec.Cells() }

// Seq is a graph of a Net unrolled over k steps.
type Seq struct {
	// Loss is the scalar loss: the mean over the head's real rows (steps whose mask is 1).
	Loss *gorgonia.Node
	// Pred is the head's output: (k·B, out) for EveryStep, time-major (row t·B + b is step t
	// of sequence b), and (B, out) otherwise. Logits for CrossEntropy.
	Pred *gorgonia.Node
	// Unrolled is the recurrent network's part of the graph.
	Unrolled *Unrolled
}

// Build adds the net unrolled over k steps for batch size batch to b, starting from init (one
// state per layer and direction, nil for zero state), and declares its inputs; Feeds fills
// them from a Batch.
func (n *Net) Build(b *graph.Builder, batch, k int, init []nodes.State) (*Seq, error) {
	return n.build(b, batch, k, init, nil)
}

func (n *Net) build(b *graph.Builder, batch, k int, init []nodes.State, hook stateHook) (*Seq, error) {
	l := n.label()
	if batch < 1 {
		return nil, fmt.Errorf("%s: batch size %d must be positive", l, batch)
	}
	if k < 1 {
		return nil, fmt.Errorf("%s: %d steps: need at least 1", l, k)
	}
	xs := make([]*gorgonia.Node, k)
	var masks []*gorgonia.Node
	if n.cfg.masked {
		masks = make([]*gorgonia.Node, k)
	}
	for t := 0; t < k; t++ {
		var err error
		if n.embed != nil {
			ids, err := b.Input(stepName("x", t), batch) // (B)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l, err)
			}
			if xs[t], err = n.embed.Forward(b, ids); err != nil { // (B, in)
				return nil, err
			}
		} else if xs[t], err = b.Input(stepName("x", t), batch, n.in); err != nil {
			return nil, fmt.Errorf("%s: %w", l, err)
		}
		if masks != nil {
			if masks[t], err = b.Input(stepName("mask", t), batch); err != nil {
				return nil, fmt.Errorf("%s: %w", l, err)
			}
		}
	}
	u, err := n.rec.forward(b, xs, init, masks, hook)
	if err != nil {
		return nil, err
	}
	seq := &Seq{Unrolled: u}
	var feat *gorgonia.Node // the head's input
	rows := batch
	switch n.cfg.readout {
	case EveryStep:
		rows = batch * k
		if feat, err = concatRows(b, l+".outputs", u.Outputs); err != nil { // (k·B, OutputSize), time-major
			return nil, fmt.Errorf("%s: %w", l, err)
		}
	case LastState:
		D := n.rec.Directions()
		top := u.Final[len(u.Final)-D:]
		if D == 1 {
			feat = top[0].H
		} else if feat, err = nodes.ConcatCols(b, l+".last", []*gorgonia.Node{top[0].H, top[1].H}); err != nil { // (B, 2H)
			return nil, fmt.Errorf("%s: %w", l, err)
		}
	case MeanPool:
		// Σ_t (m_t / Σ_s m_s) O_t with the weights fed per step: pool<t>, (B).
		for t, o := range u.Outputs {
			w, err := b.Input(stepName("pool", t), batch)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l, err)
			}
			wo, err := nodes.MaskRows(b, l+".pool", o, w)
			if err != nil {
				return nil, err
			}
			if feat == nil {
				feat = wo
			} else if feat, err = gorgonia.Add(feat, wo); err != nil {
				return nil, fmt.Errorf("%s: %w", l, err)
			}
		}
	}
	pred, err := n.head.Forward(b, feat) // (rows, out)
	if err != nil {
		return nil, err
	}
	seq.Pred = pred
	if seq.Loss, err = n.lossNode(b, pred, rows); err != nil {
		return nil, fmt.Errorf("%s: %w", l, err)
	}
	return seq, nil
}

func stepName(what string, t int) string { return fmt.Sprintf("%s%d", what, t) }

// concatRows stacks (B, N) nodes into one (len·B, N) node (nodes.ConcatRows: one node, whose
// gradient the cells read in place; Gorgonia's Concat would also merge the gradients of row
// blocks 256 rows apart, since its slices hash their bounds truncated to a byte).
func concatRows(b *graph.Builder, name string, xs []*gorgonia.Node) (*gorgonia.Node, error) {
	if len(xs) == 1 {
		return xs[0], nil
	}
	return nodes.ConcatRows(b, name, xs)
}

// lossNode declares the targets "y" and, for EveryStep, the row weights "w", and returns the
// loss over the head's rows: nodes.WeightedSoftmaxCrossEntropy with the mask as weights, or
// nodes.MSE of the rows scaled by √(N w_n) (with the targets fed scaled alike), which is
// Σ_n w_n Σ_j (ŷ_nj - y_nj)² / out with the weights w summing to 1 over the real rows.
func (n *Net) lossNode(b *graph.Builder, pred *gorgonia.Node, rows int) (*gorgonia.Node, error) {
	var y *gorgonia.Node
	var err error
	if n.cfg.loss == CrossEntropy {
		y, err = b.Input("y", rows) // class ids
	} else {
		y, err = b.Input("y", rows, n.out) // target values (scaled for EveryStep)
	}
	if err != nil {
		return nil, err
	}
	if n.cfg.readout != EveryStep {
		if n.cfg.loss == CrossEntropy {
			return nodes.SoftmaxCrossEntropy(b, pred, y)
		}
		return nodes.MSE(b, pred, y)
	}
	w, err := b.Input("w", rows)
	if err != nil {
		return nil, err
	}
	if n.cfg.loss == CrossEntropy {
		return nodes.WeightedSoftmaxCrossEntropy(b, pred, y, w)
	}
	scaled, err := nodes.MaskRows(b, n.label()+".loss_rows", pred, w)
	if err != nil {
		return nil, err
	}
	return nodes.MSE(b, scaled, y)
}

// Batch is a batch of sequences in the batch-major data layout.
type Batch struct {
	// X holds the inputs: (B, T, In) values, or (B, T) token ids for a net that embeds.
	X *tensor.Dense
	// Y holds the targets. EveryStep: (B, T) class ids (CrossEntropy) or (B, T, Out) values
	// (MSE). LastState and MeanPool: (B) class ids or (B, Out) values.
	Y *tensor.Dense
	// Mask is (B, T), 1 for real steps and 0 for padding; required by a Masked net, refused
	// by the others.
	Mask *tensor.Dense
}

// Steps is T, the length of the batch's sequences (0 without X).
func (bt *Batch) Steps() int {
	if bt == nil || bt.X == nil || bt.X.Dims() < 2 {
		return 0
	}
	return bt.X.Shape()[1]
}

// Size is B, the number of sequences (0 without X).
func (bt *Batch) Size() int {
	if bt == nil || bt.X == nil || bt.X.Dims() < 1 {
		return 0
	}
	return bt.X.Shape()[0]
}

// CheckBatch checks a batch against the net: shapes, ids, mask.
func (n *Net) CheckBatch(bt *Batch) error {
	l := n.label()
	if bt == nil || bt.X == nil || bt.Y == nil {
		return fmt.Errorf("%s: batch needs inputs X and targets Y", l)
	}
	xs := bt.X.Shape()
	if n.embed != nil {
		if len(xs) != 2 {
			return fmt.Errorf("%s: inputs must be token ids (batch, steps), have shape %v", l, xs)
		}
	} else if len(xs) != 3 || xs[2] != n.in {
		return fmt.Errorf("%s: inputs must be (batch, steps, %d), have shape %v", l, n.in, xs)
	}
	B, T := xs[0], xs[1]
	if B < 1 || T < 1 {
		return fmt.Errorf("%s: empty batch: inputs have shape %v", l, xs)
	}
	var want tensor.Shape
	switch {
	case n.cfg.readout == EveryStep && n.cfg.loss == CrossEntropy:
		want = tensor.Shape{B, T}
	case n.cfg.readout == EveryStep:
		want = tensor.Shape{B, T, n.out}
	case n.cfg.loss == CrossEntropy:
		want = tensor.Shape{B}
	default:
		want = tensor.Shape{B, n.out}
	}
	if !bt.Y.Shape().Eq(want) {
		return fmt.Errorf("%s: targets must have shape %v (%v, %v), have %v", l, want, n.cfg.readout, n.cfg.loss, bt.Y.Shape())
	}
	if n.cfg.loss == CrossEntropy {
		for i, v := range graph.Float64s(bt.Y) {
			if v != math.Trunc(v) || v < 0 || v >= float64(n.out) {
				return fmt.Errorf("%s: target %v at position %d is not a class id in [0, %d)", l, v, i, n.out)
			}
		}
	}
	if n.cfg.masked {
		if bt.Mask == nil {
			return fmt.Errorf("%s: the net is masked and the batch has no mask", l)
		}
		if !bt.Mask.Shape().Eq(tensor.Shape{B, T}) {
			return fmt.Errorf("%s: mask must be (%d, %d) (batch, steps), has shape %v", l, B, T, bt.Mask.Shape())
		}
		if n.cfg.readout != EveryStep {
			m := graph.Float64s(bt.Mask)
			for b := 0; b < B; b++ {
				sum := 0.0
				for t := 0; t < T; t++ {
					sum += m[b*T+t]
				}
				if sum <= 0 {
					return fmt.Errorf("%s: sequence %d of the batch is empty (its mask is all zero)", l, b)
				}
			}
		}
	} else if bt.Mask != nil {
		return fmt.Errorf("%s: the batch has a mask but the net was built without Masked()", l)
	}
	return nil
}

// Feeds returns the graph inputs of steps [from, from+k) of a batch for a graph that Build
// made with the same k: the inputs, the mask and, for EveryStep, the targets of those steps
// and the loss weights of their rows (the mask, 1 everywhere without one). For LastState and MeanPool the targets belong to the
// whole sequence: they are fed with every segment and the loss is used only when the segment
// ends the sequence.
func (n *Net) Feeds(bt *Batch, from, k int) (graph.Feeds, error) {
	return n.feeds(bt, from, k, nil)
}

// feeds is Feeds with, for EveryStep, the loss restricted to the steps s (of the whole
// sequence) for which lossAt(s) is true; nil keeps every step.
func (n *Net) feeds(bt *Batch, from, k int, lossAt func(s int) bool) (graph.Feeds, error) {
	return n.feedsInto(nil, bt, from, k, lossAt)
}

// feedsInto is feeds reusing the input tensors of prev, feeds it returned before for the same
// graph, which the caller no longer needs: a segment trainer cuts every segment into the same
// buffers.
func (n *Net) feedsInto(prev graph.Feeds, bt *Batch, from, k int, lossAt func(s int) bool) (graph.Feeds, error) {
	if err := n.CheckBatch(bt); err != nil {
		return nil, err
	}
	B, T := bt.Size(), bt.Steps()
	if from < 0 || k < 1 || from+k > T {
		return nil, fmt.Errorf("%s: steps [%d, %d) outside the batch's %d steps", n.label(), from, from+k, T)
	}
	dt := graph.NewTensor // shorthand
	y := graph.Float64s(bt.Y)
	var m []float64
	if bt.Mask != nil {
		m = graph.Float64s(bt.Mask)
	}
	f := graph.Feeds{}
	ft := n.dtype
	width, shape := n.in, []int{B, n.in} // the values of one step of one sequence, one step
	if n.embed != nil {
		width, shape = 1, []int{B}
	}
	reuse := make([]*tensor.Dense, k)
	for t := range reuse {
		if v := prev[stepName("x", t)]; v != nil && v.Dtype() == ft && v.Shape().Eq(tensor.Shape(shape)) {
			reuse[t] = v
		}
	}
	xs, err := cutSteps(bt.X, ft, B, T, width, from, k, reuse)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.label(), err)
	}
	for t, v := range xs {
		if reuse[t] != nil {
			f[stepName("x", t)] = reuse[t]
		} else {
			f[stepName("x", t)] = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
		}
	}
	if m != nil {
		for t := 0; t < k; t++ {
			v := make([]float64, B)
			for b := range v {
				v[b] = m[b*T+from+t]
			}
			f[stepName("mask", t)] = dt(ft, []int{B}, v)
		}
	}
	mask := func(b, s int) float64 {
		if m == nil {
			return 1
		}
		return m[b*T+s]
	}
	switch n.cfg.readout {
	case EveryStep:
		// Rows are time-major: row t·B + b is step from+t of sequence b.
		rows := k * B
		w := make([]float64, rows)
		total := 0.0
		for t := 0; t < k; t++ {
			for b := 0; b < B; b++ {
				if lossAt == nil || lossAt(from+t) {
					w[t*B+b] = mask(b, from+t)
				}
				total += w[t*B+b]
			}
		}
		var tv []float64
		if n.cfg.loss == CrossEntropy {
			tv = make([]float64, rows)
			for t := 0; t < k; t++ {
				for b := 0; b < B; b++ {
					tv[t*B+b] = y[b*T+from+t]
				}
			}
			f["y"] = dt(ft, []int{rows}, tv)
		} else {
			// Scale row r by √(rows · w_r / Σ w): nodes.MSE then gives the weighted mean.
			tv = make([]float64, rows*n.out)
			for t := 0; t < k; t++ {
				for b := 0; b < B; b++ {
					r := t*B + b
					if total > 0 {
						w[r] = math.Sqrt(float64(rows) * w[r] / total)
					}
					src := y[(b*T+from+t)*n.out : (b*T+from+t+1)*n.out]
					for j, v := range src {
						tv[r*n.out+j] = w[r] * v
					}
				}
			}
			f["y"] = dt(ft, []int{rows, n.out}, tv)
		}
		f["w"] = dt(ft, []int{rows}, w)
	default:
		if n.cfg.loss == CrossEntropy {
			f["y"] = dt(ft, []int{B}, y)
		} else {
			f["y"] = dt(ft, []int{B, n.out}, y)
		}
		if n.cfg.readout == MeanPool {
			for t := 0; t < k; t++ {
				v := make([]float64, B)
				for b := range v {
					total := 0.0
					for s := 0; s < T; s++ {
						total += mask(b, s)
					}
					v[b] = mask(b, from+t) / total
				}
				f[stepName("pool", t)] = dt(ft, []int{B}, v)
			}
		}
	}
	return f, nil
}

// cutSteps cuts steps [from, from+k) of x, (B, T, width) values in batch-major order, into
// one (B, width) slice per step, of element type dt, each the backing of a step's input: into
// the backing of reuse[t] where it is not nil (a tensor of dt and the right size), into new
// memory elsewhere.
func cutSteps(x *tensor.Dense, dt tensor.Dtype, B, T, width, from, k int, reuse []*tensor.Dense) ([]any, error) {
	switch src := x.Data().(type) {
	case []float32:
		if dt == tensor.Float64 {
			return cutStepsOf[float32, float64](src, B, T, width, from, k, reuse), nil
		}
		return cutStepsOf[float32, float32](src, B, T, width, from, k, reuse), nil
	case []float64:
		if dt == tensor.Float64 {
			return cutStepsOf[float64, float64](src, B, T, width, from, k, reuse), nil
		}
		return cutStepsOf[float64, float32](src, B, T, width, from, k, reuse), nil
	}
	return nil, fmt.Errorf("inputs are %v, want float32 or float64", x.Dtype())
}

func cutStepsOf[S, D float32 | float64](src []S, B, T, width, from, k int, reuse []*tensor.Dense) []any {
	out := make([]any, k)
	var all []D
	for t := range out {
		var v []D
		if reuse[t] != nil {
			v = reuse[t].Data().([]D)
		} else {
			if all == nil {
				all = make([]D, k*B*width)
			}
			v = all[t*B*width : (t+1)*B*width : (t+1)*B*width]
		}
		for b := 0; b < B; b++ {
			row, s := v[b*width:(b+1)*width], src[(b*T+from+t)*width:(b*T+from+t+1)*width]
			if same, ok := any(s).([]D); ok {
				copy(row, same)
				continue
			}
			for j, e := range s {
				row[j] = D(e)
			}
		}
		out[t] = v
	}
	return out
}

// Evaluate returns the net's loss on a batch in evaluation mode (no dropout), from zero state
// over the whole sequence. It compiles a graph for the batch's size and length on every call.
func (n *Net) Evaluate(bt *Batch) (float64, error) {
	if err := n.CheckBatch(bt); err != nil {
		return 0, err
	}
	B, T := bt.Size(), bt.Steps()
	b := graph.NewBuilder(n.ps, graph.Eval)
	seq, err := n.Build(b, B, T, nil)
	if err != nil {
		return 0, err
	}
	prog, err := graph.Compile(b, map[string]*gorgonia.Node{"loss": seq.Loss})
	if err != nil {
		return 0, err
	}
	defer prog.Close()
	f, err := n.Feeds(bt, 0, T)
	if err != nil {
		return 0, err
	}
	out, err := prog.Run(f)
	if err != nil {
		return 0, err
	}
	return graph.Scalar(out["loss"])
}
