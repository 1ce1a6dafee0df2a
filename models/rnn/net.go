package rnn

import (
	"fmt"

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
// vectors are the recurrent network's input: the inputs X of its data then hold ids, (N, T).
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

// Masked makes a Net take a mask for variable-length sequences: its data must then carry a
// Mask, and padded steps change neither the state nor the loss.
func Masked() Option {
	return func(c *config) { c.masked = true; c.netOnly = append(c.netOnly, "Masked") }
}

// Net is a complete recurrent model: an optional embedding, a Recurrent network and a dense
// output head, with its loss, for sequence classification and regression (and the network
// inside the LanguageModel and LatentAR). With O_t the top layer's output at step t,
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
//
// Fit trains it on a data.SequenceSet (by truncated backpropagation through time when
// graph.Segment asks for segments shorter than the sequences), Evaluate scores a set (loss, and
// accuracy for CrossEntropy), Predict decodes its outputs, and SaveCheckpoint, LoadCheckpoint
// and LoadWeights save and load it. GradientFlow examines how far back its gradient reaches.
type Net struct {
	name     string
	cfg      config
	kind     Kind
	in, out  int
	ps       *graph.Params
	dtype    tensor.Dtype
	embed    *nodes.Embedding
	rec      *Recurrent
	head     *nodes.Dense
	headName string

	run   graph.Run
	train *segments                 // the training graphs and the carried state
	evals map[[2]int]*graph.Program // evaluation graphs by batch size and steps
	iter  *sequenceData             // the training data of the last Fit
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
	if ps == nil {
		return nil, fmt.Errorf("%s: nil params", label)
	}
	n := &Net{name: name, cfg: cfg, kind: kind, in: in, out: out, ps: ps, dtype: ps.Dtype(), evals: map[[2]int]*graph.Program{}}
	n.train = newSegments(n, cfg.loss == CrossEntropy)
	n.run.SetExtra(n.extra)
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
// them from a batch.
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
	xs, masks, err := n.stepInputs(b, batch, k)
	if err != nil {
		return nil, err
	}
	u, err := n.rec.forward(b, xs, init, masks, hook)
	if err != nil {
		return nil, err
	}
	seq := &Seq{Unrolled: u}
	feat, rows, err := n.readout(b, u, batch, k) // the head's input
	if err != nil {
		return nil, err
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

// stepInputs adds the inputs of k steps of a batch: x<t>, ids (B) through the embedding or
// vectors (B, in), and mask<t> (B) when the net is masked.
func (n *Net) stepInputs(b *graph.Builder, batch, k int) (xs, masks []*gorgonia.Node, err error) {
	l := n.label()
	xs = make([]*gorgonia.Node, k)
	if n.cfg.masked {
		masks = make([]*gorgonia.Node, k)
	}
	for t := 0; t < k; t++ {
		if n.embed != nil {
			ids, err := b.Input(stepName("x", t), batch) // (B)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", l, err)
			}
			if xs[t], err = n.embed.Forward(b, ids); err != nil { // (B, in)
				return nil, nil, err
			}
		} else if xs[t], err = b.Input(stepName("x", t), batch, n.in); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", l, err)
		}
		if masks != nil {
			if masks[t], err = b.Input(stepName("mask", t), batch); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", l, err)
			}
		}
	}
	return xs, masks, nil
}

// readout returns what the head reads of the unrolled net u (see Readout) and its rows:
// k·batch for EveryStep (time-major), batch otherwise.
func (n *Net) readout(b *graph.Builder, u *Unrolled, batch, k int) (feat *gorgonia.Node, rows int, err error) {
	l := n.label()
	rows = batch
	switch n.cfg.readout {
	case EveryStep:
		rows = batch * k
		if feat, err = concatRows(b, l+".outputs", u.Outputs); err != nil { // (k·B, OutputSize), time-major
			return nil, 0, fmt.Errorf("%s: %w", l, err)
		}
	case LastState:
		D := n.rec.Directions()
		top := u.Final[len(u.Final)-D:]
		if D == 1 {
			feat = top[0].H
		} else if feat, err = nodes.ConcatCols(b, l+".last", []*gorgonia.Node{top[0].H, top[1].H}); err != nil { // (B, 2H)
			return nil, 0, fmt.Errorf("%s: %w", l, err)
		}
	case MeanPool:
		// Σ_t (m_t / Σ_s m_s) O_t with the weights fed per step: pool<t>, (B).
		for t, o := range u.Outputs {
			w, err := b.Input(stepName("pool", t), batch)
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", l, err)
			}
			wo, err := nodes.MaskRows(b, l+".pool", o, w)
			if err != nil {
				return nil, 0, err
			}
			if feat == nil {
				feat = wo
			} else if feat, err = gorgonia.Add(feat, wo); err != nil {
				return nil, 0, fmt.Errorf("%s: %w", l, err)
			}
		}
	}
	return feat, rows, nil
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
