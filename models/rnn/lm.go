package rnn

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// LanguageModel is a character-level language model: it reads a text one character at a time
// and, at every step, gives a probability for each character of its vocabulary to come next
// (COURSE.md, points 6 to 12). With the character x_t as input, the state h_t of a stack of
// recurrent layers (RNN, LSTM or GRU) and V the vocabulary size,
//
//	e_t = one-hot(x_t) (V)   or   e_t = E[x_t] (an embedding, D),
//	h_t = cell(e_t, h_{t-1}),
//	P(x_{t+1} = v | x_1..x_t) = softmax(W_head h_t + b_head)_v,
//
// and it is trained to minimise the mean cross-entropy -log P(x_{t+1} | x_1..x_t) over the
// text, by truncated backpropagation through time (NewTrainer). The same loss in bits, divided
// by ln 2, is the number of bits per character a compressor built on the model would need;
// its exponential is the perplexity, the number of equally likely choices the model is left
// with at each step on average.
//
// It is a Net with an EveryStep readout and the CrossEntropy loss: parameters, for a model
// called name, "<name>.rnn.weight_ih_l0" ((G·H, V) one-hot, (G·H, D) with an embedding), ...,
// "<name>.head.weight" (V, H), "<name>.head.bias" (V), and with an embedding
// "<name>.embed.weight" (V, D). With an empty name the prefix is left out: "rnn.weight_ih_l0",
// "head.weight", the names of a PyTorch module with submodules rnn (nn.LSTM) and head
// (nn.Linear), as in bench/torch_lm.py.
type LanguageModel struct {
	name  string
	ps    *graph.Params
	vocab *data.Vocab
	cfg   LMConfig
	net   *Net
	evals map[int]*graph.Program // batch-1 evaluation graphs by number of steps
}

// LMConfig is a language model's architecture, as NewLanguageModel builds it and checkpoints
// record it.
type LMConfig struct {
	Kind      Kind
	Hidden    int     // width of each layer's hidden state
	Layers    int     // stacked recurrent layers
	Embedding int     // width of the input embedding; 0 reads one-hot vectors
	Dropout   float64 // dropout between stacked layers, in training
}

// LMOption configures NewLanguageModel.
type LMOption func(*LMConfig)

// LMLayers stacks n recurrent layers (default 1).
func LMLayers(n int) LMOption { return func(c *LMConfig) { c.Layers = n } }

// LMEmbedding reads the characters through a learned embedding of width dim instead of
// one-hot vectors (the default).
func LMEmbedding(dim int) LMOption { return func(c *LMConfig) { c.Embedding = dim } }

// LMDropout applies dropout with probability p between stacked layers during training.
func LMDropout(p float64) LMOption { return func(c *LMConfig) { c.Dropout = p } }

// NewLanguageModel creates in ps a language model over vocab with cells of kind and hidden
// units per layer.
func NewLanguageModel(ps *graph.Params, name string, vocab *data.Vocab, kind Kind, hidden int, opts ...LMOption) (*LanguageModel, error) {
	cfg := LMConfig{Kind: kind, Hidden: hidden, Layers: 1}
	for _, o := range opts {
		o(&cfg)
	}
	return newLanguageModel(ps, name, vocab, cfg)
}

func newLanguageModel(ps *graph.Params, name string, vocab *data.Vocab, cfg LMConfig) (*LanguageModel, error) {
	label := name
	if label == "" {
		label = "language model"
	}
	switch {
	case ps == nil:
		return nil, fmt.Errorf("%s: nil params", label)
	case vocab == nil || vocab.Size() < 2:
		return nil, fmt.Errorf("%s: the vocabulary must hold at least one character", label)
	case cfg.Embedding < 0:
		return nil, fmt.Errorf("%s: embedding width %d is negative", label, cfg.Embedding)
	}
	V := vocab.Size()
	in := V
	netOpts := []Option{Layers(cfg.Layers)}
	if cfg.Embedding > 0 {
		in = cfg.Embedding
		netOpts = append(netOpts, Embed(V))
	}
	if cfg.Dropout != 0 {
		netOpts = append(netOpts, Dropout(cfg.Dropout))
	}
	netOpts = append(netOpts, WithReadout(EveryStep), WithLoss(CrossEntropy))
	net, err := NewNet(ps, name, cfg.Kind, in, cfg.Hidden, V, netOpts...)
	if err != nil {
		return nil, err
	}
	return &LanguageModel{name: name, ps: ps, vocab: vocab, cfg: cfg, net: net, evals: map[int]*graph.Program{}}, nil
}

func (lm *LanguageModel) label() string {
	if lm.name == "" {
		return "language model"
	}
	return lm.name
}

// Name is the model's name, the prefix of its parameters.
func (lm *LanguageModel) Name() string { return lm.name }

// Vocab is the model's vocabulary.
func (lm *LanguageModel) Vocab() *data.Vocab { return lm.vocab }

// Config is the model's architecture.
func (lm *LanguageModel) Config() LMConfig { return lm.cfg }

// Net is the recurrent network with its head.
func (lm *LanguageModel) Net() *Net { return lm.net }

// Params is the parameter set the model lives in.
func (lm *LanguageModel) Params() *graph.Params { return lm.ps }

// Batch converts a minibatch of character ids (data.SeqBatches) into the Net's layout: one-hot
// inputs (B, T, V), or ids (B, T) with an embedding, and target ids (B, T).
func (lm *LanguageModel) Batch(sb *data.SeqBatch) (*Batch, error) {
	if sb == nil || sb.B < 1 || sb.T < 1 || len(sb.X) != sb.B*sb.T || len(sb.Y) != sb.B*sb.T {
		return nil, fmt.Errorf("%s: malformed batch", lm.label())
	}
	return lm.batch(sb.B, sb.T, sb.X, sb.Y)
}

// batch builds a Batch of b rows of t steps from ids x and targets y, (b, t) row-major.
func (lm *LanguageModel) batch(b, t int, x, y []int) (*Batch, error) {
	V := lm.vocab.Size()
	yv := make([]float64, len(y))
	for i, id := range y {
		if id < 0 || id >= V {
			return nil, fmt.Errorf("%s: target id %d at position %d is outside the vocabulary of %d", lm.label(), id, i, V)
		}
		yv[i] = float64(id)
	}
	bt := &Batch{Y: graph.NewTensor(tensor.Float64, []int{b, t}, yv)}
	if lm.cfg.Embedding > 0 {
		xv := make([]float64, len(x))
		for i, id := range x {
			if id < 0 || id >= V {
				return nil, fmt.Errorf("%s: input id %d at position %d is outside the vocabulary of %d", lm.label(), id, i, V)
			}
			xv[i] = float64(id)
		}
		bt.X = graph.NewTensor(tensor.Float64, []int{b, t}, xv)
		return bt, nil
	}
	xv := make([]float64, len(x)*V) // (b, t, V) one-hot
	for i, id := range x {
		if id < 0 || id >= V {
			return nil, fmt.Errorf("%s: input id %d at position %d is outside the vocabulary of %d", lm.label(), id, i, V)
		}
		xv[i*V+id] = 1
	}
	bt.X = graph.NewTensor(tensor.Float64, []int{b, t, V}, xv)
	return bt, nil
}

// NewTrainer returns a segment trainer (truncated backpropagation through time) for batches
// of batch streams cut into segments of k steps, updating the model with s. Pass
// ClipNorm(5) to clip the gradients; the state is carried from batch to batch, as sequential
// partitioning (data.NewSequentialBatches) needs.
func (lm *LanguageModel) NewTrainer(s solvers.Solver, batch, k int, opts ...TrainerOption) (*SegmentTrainer, error) {
	return NewSegmentTrainer(lm.net, s, batch, k, opts...)
}

// LMEval is a language model's score on a text.
type LMEval struct {
	Loss       float64 // mean cross-entropy per character, in nats
	Perplexity float64 // exp(Loss)
	BPC        float64 // bits per character, Loss / ln 2
	Tokens     int     // characters predicted
}

func newLMEval(loss float64, tokens int) *LMEval {
	return &LMEval{Loss: loss, Perplexity: math.Exp(loss), BPC: loss / math.Ln2, Tokens: tokens}
}

// Evaluate scores the model on a text given as ids: it reads the text as one stream from a
// zero state, in segments of k steps with the state carried from each segment to the next
// (the last segment may be shorter), predicting each character from all those before it, and
// returns the mean cross-entropy of the len(ids)-1 predictions. Dropout is off.
func (lm *LanguageModel) Evaluate(ids []int, k int) (*LMEval, error) {
	if k < 1 {
		return nil, fmt.Errorf("%s: evaluate: segments of %d steps, need at least 1", lm.label(), k)
	}
	if len(ids) < 2 {
		return nil, fmt.Errorf("%s: evaluate: %d characters: need at least 2 (an input and its successor)", lm.label(), len(ids))
	}
	n := len(ids) - 1
	var state map[string]*tensor.Dense
	var total float64
	for s := 0; s < n; s += k {
		steps := min(k, n-s)
		prog, err := lm.evalProgram(steps)
		if err != nil {
			return nil, err
		}
		if state == nil {
			prog.ResetState()
		} else if err := prog.SetState(state); err != nil {
			return nil, fmt.Errorf("%s: evaluate: %w", lm.label(), err)
		}
		bt, err := lm.batch(1, steps, ids[s:s+steps], ids[s+1:s+steps+1])
		if err != nil {
			return nil, err
		}
		f, err := lm.net.Feeds(bt, 0, steps)
		if err != nil {
			return nil, err
		}
		out, err := prog.Run(f)
		if err != nil {
			return nil, fmt.Errorf("%s: evaluate: characters %d-%d: %w", lm.label(), s, s+steps, err)
		}
		loss, err := graph.Scalar(out["loss"])
		if err != nil {
			return nil, fmt.Errorf("%s: evaluate: %w", lm.label(), err)
		}
		total += loss * float64(steps) // the graph's loss is the mean over its steps
		state = prog.State()
	}
	loss := total / float64(n)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return nil, fmt.Errorf("%s: evaluate: the loss is %v", lm.label(), loss)
	}
	return newLMEval(loss, n), nil
}

// evalProgram returns the compiled evaluation graph of batch 1 and k steps, whose initial
// state is carried (named as the segment trainer names it), with outputs "loss" and "pred"
// (the logits, (k, V)).
func (lm *LanguageModel) evalProgram(k int) (*graph.Program, error) {
	if p, ok := lm.evals[k]; ok {
		return p, nil
	}
	b := graph.NewBuilder(lm.ps, graph.Eval)
	D := lm.net.Recurrent().Directions()
	var init []nodes.State
	for i, c := range lm.net.Cells() {
		l, rev := i/D, i%D == 1
		var st nodes.State
		var err error
		if st.H, err = b.State(StateName(false, l, rev), 1, c.HiddenSize()); err != nil {
			return nil, fmt.Errorf("%s: %w", lm.label(), err)
		}
		if c.HasCell() {
			if st.C, err = b.State(StateName(true, l, rev), 1, c.HiddenSize()); err != nil {
				return nil, fmt.Errorf("%s: %w", lm.label(), err)
			}
		}
		init = append(init, st)
	}
	seq, err := lm.net.Build(b, 1, k, init)
	if err != nil {
		return nil, err
	}
	for i, st := range seq.Unrolled.Final {
		l, rev := i/D, i%D == 1
		if err := b.Carry(StateName(false, l, rev), st.H); err != nil {
			return nil, fmt.Errorf("%s: %w", lm.label(), err)
		}
		if st.C != nil {
			if err := b.Carry(StateName(true, l, rev), st.C); err != nil {
				return nil, fmt.Errorf("%s: %w", lm.label(), err)
			}
		}
	}
	p, err := graph.Compile(b, map[string]*gorgonia.Node{"loss": seq.Loss, "pred": seq.Pred})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", lm.label(), err)
	}
	lm.evals[k] = p
	return p, nil
}

// Checkpoint entries a language model adds to its trainer's checkpoints.
const (
	lmBlobVocab   = "vocab"   // the vocabulary (data.Vocab.MarshalBinary)
	lmBlobBatches = "batches" // the training iterator's position (data.SeqBatches.MarshalBinary)
	lmMetaPrefix  = "lm."
)

// SaveCheckpoint writes a checkpoint from which training resumes exactly: what the segment
// trainer saves (parameters, solver state, the random source, the carried state), the model's
// architecture and vocabulary, the position of the training iterator batches (may be nil)
// and the caller's extra (its blobs, tensors and meta are kept; the names "vocab" and
// "batches" are the model's).
func (lm *LanguageModel) SaveCheckpoint(path string, tr *SegmentTrainer, batches *data.SeqBatches, extra *graph.Extra) error {
	if tr == nil || tr.net != lm.net {
		return fmt.Errorf("%s: checkpoint %s: the trainer is not the model's (make it with NewTrainer)", lm.label(), path)
	}
	e := &graph.Extra{Tensors: map[string]*tensor.Dense{}, Blobs: map[string][]byte{}, Meta: map[string]string{}}
	if extra != nil {
		for k, v := range extra.Tensors {
			e.Tensors[k] = v
		}
		for k, v := range extra.Blobs {
			e.Blobs[k] = v
		}
		for k, v := range extra.Meta {
			e.Meta[k] = v
		}
	}
	vb, err := lm.vocab.MarshalBinary()
	if err != nil {
		return fmt.Errorf("%s: checkpoint %s: %w", lm.label(), path, err)
	}
	e.Blobs[lmBlobVocab] = vb
	if batches != nil {
		bb, err := batches.MarshalBinary()
		if err != nil {
			return fmt.Errorf("%s: checkpoint %s: %w", lm.label(), path, err)
		}
		e.Blobs[lmBlobBatches] = bb
	}
	for k, v := range map[string]string{
		"name": lm.name, "kind": lm.cfg.Kind.String(), "hidden": strconv.Itoa(lm.cfg.Hidden),
		"layers": strconv.Itoa(lm.cfg.Layers), "embedding": strconv.Itoa(lm.cfg.Embedding),
		"dropout": strconv.FormatFloat(lm.cfg.Dropout, 'g', -1, 64),
	} {
		e.Meta[lmMetaPrefix+k] = v
	}
	return tr.SaveCheckpoint(path, e)
}

// LanguageModelFromCheckpoint builds in ps the language model a checkpoint was saved from
// (its name, architecture and vocabulary); its parameters are still the fresh ones, for
// Restore (or Checkpoint.Restore) to overwrite.
func LanguageModelFromCheckpoint(ps *graph.Params, c *graph.Checkpoint) (*LanguageModel, error) {
	if c == nil || c.Extra == nil {
		return nil, errors.New("language model: no checkpoint")
	}
	meta := c.Extra.Meta
	get := func(k string) (string, error) {
		v, ok := meta[lmMetaPrefix+k]
		if !ok {
			return "", fmt.Errorf("language model: checkpoint %s has no %q: not a language model's checkpoint", c.Path, lmMetaPrefix+k)
		}
		return v, nil
	}
	var cfg LMConfig
	var err error
	var s string
	if s, err = get("kind"); err != nil {
		return nil, err
	}
	if cfg.Kind, err = ParseKind(s); err != nil {
		return nil, fmt.Errorf("language model: checkpoint %s: %w", c.Path, err)
	}
	for _, f := range []struct {
		key string
		dst *int
	}{{"hidden", &cfg.Hidden}, {"layers", &cfg.Layers}, {"embedding", &cfg.Embedding}} {
		if s, err = get(f.key); err != nil {
			return nil, err
		}
		if *f.dst, err = strconv.Atoi(s); err != nil {
			return nil, fmt.Errorf("language model: checkpoint %s: %s %q: %w", c.Path, f.key, s, err)
		}
	}
	if s, err = get("dropout"); err != nil {
		return nil, err
	}
	if cfg.Dropout, err = strconv.ParseFloat(s, 64); err != nil {
		return nil, fmt.Errorf("language model: checkpoint %s: dropout %q: %w", c.Path, s, err)
	}
	name, err := get("name")
	if err != nil {
		return nil, err
	}
	vb, ok := c.Extra.Blobs[lmBlobVocab]
	if !ok {
		return nil, fmt.Errorf("language model: checkpoint %s holds no vocabulary", c.Path)
	}
	vocab := &data.Vocab{}
	if err := vocab.UnmarshalBinary(vb); err != nil {
		return nil, fmt.Errorf("language model: checkpoint %s: %w", c.Path, err)
	}
	return newLanguageModel(ps, name, vocab, cfg)
}

// Restore loads a checkpoint written by SaveCheckpoint into the model's parameters, the
// trainer (solver, random source, carried state) and, when batches is not nil, the training
// iterator's position. The checkpoint's vocabulary must be the model's. It returns the
// caller's extra.
func (lm *LanguageModel) Restore(path string, tr *SegmentTrainer, batches *data.SeqBatches) (*graph.Extra, error) {
	if tr == nil || tr.net != lm.net {
		return nil, fmt.Errorf("%s: restore %s: the trainer is not the model's (make it with NewTrainer)", lm.label(), path)
	}
	c, err := graph.ReadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	vb, ok := c.Extra.Blobs[lmBlobVocab]
	if !ok {
		return nil, fmt.Errorf("%s: checkpoint %s holds no vocabulary", lm.label(), path)
	}
	mine, err := lm.vocab.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if string(vb) != string(mine) {
		return nil, fmt.Errorf("%s: checkpoint %s was saved with another vocabulary", lm.label(), path)
	}
	if batches != nil {
		bb, ok := c.Extra.Blobs[lmBlobBatches]
		if !ok {
			return nil, fmt.Errorf("%s: checkpoint %s holds no iterator position", lm.label(), path)
		}
		// Check the position fits before anything changes, then load.
		probe := *batches
		if err := probe.UnmarshalBinary(bb); err != nil {
			return nil, fmt.Errorf("%s: checkpoint %s: %w", lm.label(), path, err)
		}
	}
	extra, err := tr.LoadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	if batches != nil {
		_ = batches.UnmarshalBinary(c.Extra.Blobs[lmBlobBatches]) // checked above
	}
	delete(extra.Blobs, lmBlobVocab)
	delete(extra.Blobs, lmBlobBatches)
	for k := range extra.Meta {
		if strings.HasPrefix(k, lmMetaPrefix) {
			delete(extra.Meta, k)
		}
	}
	return extra, nil
}
