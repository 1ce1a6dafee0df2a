package rnn

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
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
// text, by truncated backpropagation through time (Fit). The same loss in bits, divided by
// ln 2, is the number of bits per character a compressor built on the model would need; its
// exponential is the perplexity, the number of equally likely choices the model is left with
// at each step on average.
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
	cfg   Config
	net   *Net
	run   graph.Run
	train *segments              // the training graphs and the carried state
	evals map[int]*graph.Program // batch-1 evaluation graphs by number of steps
	// The inputs and targets of the last training batch, rewritten for the next.
	scratchX, scratchY *tensor.Dense
}

// Config is a language model's architecture, as NewLanguageModel builds it and its checkpoints
// record it.
type Config struct {
	Kind      Kind    `json:"kind"`
	Hidden    int     `json:"hidden"`    // width of each layer's hidden state
	Layers    int     `json:"layers"`    // stacked recurrent layers (0 is 1)
	Embedding int     `json:"embedding"` // width of the input embedding; 0 reads one-hot vectors
	Dropout   float64 `json:"dropout"`   // dropout between stacked layers, in training
}

// NewLanguageModel creates in ps a language model over vocab with the architecture cfg.
func NewLanguageModel(ps *graph.Params, name string, vocab *data.Vocab, cfg Config) (*LanguageModel, error) {
	label := name
	if label == "" {
		label = "language model"
	}
	if cfg.Layers == 0 {
		cfg.Layers = 1
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
	lm := &LanguageModel{name: name, ps: ps, vocab: vocab, cfg: cfg, net: net, evals: map[int]*graph.Program{}}
	lm.train = newSegments(net, false)
	lm.run.SetExtra(lm.extra)
	return lm, nil
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
func (lm *LanguageModel) Config() Config { return lm.cfg }

// Net is the recurrent network with its head.
func (lm *LanguageModel) Net() *Net { return lm.net }

// Params is the parameter set the model lives in.
func (lm *LanguageModel) Params() *graph.Params { return lm.ps }

// Run is the model's training run: its solver, counters and history, which Fit advances and
// the checkpoints save.
func (lm *LanguageModel) Run() *graph.Run { return &lm.run }

// defaultLMSolver is the language model's solver when none is given: Adam 2e-3.
func defaultLMSolver() solvers.Solver { return solvers.NewAdam(2e-3) }

// seqBatchData is a data.SeqBatches as graph.Fit takes it; its position is the iterator's.
type seqBatchData struct{ *data.SeqBatches }

// Pass returns the iterator's current pass (or starts the next).
func (d seqBatchData) Pass() graph.Pass[*data.SeqBatch] { return d.SeqBatches.Pass() }

// Fit trains the model on the batches of a partitioned text (data.NewSequentialBatches or
// data.NewRandomBatches) with graph.Fit, the training loop every model of unroll uses, and
// returns the history of every completed epoch across calls and resumes; a second call
// continues where the first stopped.
//
// Each batch of B streams of T characters is trained by truncated backpropagation through
// time in segments of graph.Segment steps (default T: one segment a batch), one update per
// segment, the state carried from segment to segment. Across batches the state is carried on
// where a batch continues the streams of the one before (sequential partitioning,
// data.SeqBatch.Continues) and starts from zero otherwise (the first batch of an epoch, random
// partitioning). The batch size is the iterator's: graph.Batch, when given, must agree. The
// solver is graph.Solver's, or the one of an earlier Fit, or Adam with a learning rate of 2e-3.
// graph.Validation takes a text as ids, scored with Evaluate.
func (lm *LanguageModel) Fit(batches *data.SeqBatches, opts ...graph.FitOption) (*graph.History, error) {
	h := lm.run.History()
	cfg, err := graph.NewFitConfig(opts...)
	if err != nil {
		return &h, fmt.Errorf("%s: %w", lm.label(), err)
	}
	if batches == nil {
		return &h, fmt.Errorf("%s: fit: no training batches", lm.label())
	}
	if B, _ := batches.Shape(); cfg.Batch != 0 && cfg.Batch != B {
		return &h, fmt.Errorf("%s: fit: batch size %d, but the training batches hold %d streams", lm.label(), cfg.Batch, B)
	}
	if cfg.Validation != nil {
		ids, ok := cfg.Validation.([]int)
		if !ok {
			return &h, fmt.Errorf("%s: the validation set is a %T, want a text as ids ([]int)", lm.label(), cfg.Validation)
		}
		if err := lm.checkText(ids); err != nil {
			return &h, err
		}
	}
	if cfg.Solver == nil && lm.run.Solver() == nil {
		cfg.Solver = defaultLMSolver()
	}
	return graph.Fit[*data.SeqBatch](lm, &lm.run, seqBatchData{batches}, cfg)
}

// TrainBatch trains on one batch of character ids in segments of graph.Segment steps, the
// state carried over from the batch before when sb continues its streams (see Fit). It is the
// model's part of graph.Fit's loop; BatchStats counts the characters predicted.
//
// In a data-parallel run (graph.DataParallel) the rank trains on its share of the batch's
// streams (FitConfig.Shard) and carries their state; the ranks average their gradients, and
// the statistics are the whole batch's.
func (lm *LanguageModel) TrainBatch(sb *data.SeqBatch, cfg *graph.FitConfig) (graph.BatchStats, error) {
	if sb == nil || sb.B < 1 || sb.T < 1 || len(sb.X) != sb.B*sb.T || len(sb.Y) != sb.B*sb.T {
		return graph.BatchStats{}, fmt.Errorf("%s: malformed batch", lm.label())
	}
	lo, hi, err := cfg.Shard(sb.B)
	if err != nil {
		return graph.BatchStats{}, fmt.Errorf("%s: %w", lm.label(), err)
	}
	if hi-lo != sb.B {
		lm.train.shardPending(sb.B, lo, hi)
	}
	bt, err := lm.batch(hi-lo, sb.T, sb.X[lo*sb.T:hi*sb.T], sb.Y[lo*sb.T:hi*sb.T], true)
	if err != nil {
		return graph.BatchStats{}, err
	}
	st, err := lm.train.trainBatch(bt, cfg, sb.Continues)
	st.Examples = sb.B * sb.T
	return st, err
}

// Validate scores a validation text, given as ids ([]int), with Evaluate.
func (lm *LanguageModel) Validate(set any) (graph.Metrics, error) {
	ids, ok := set.([]int)
	if !ok {
		return graph.Metrics{}, fmt.Errorf("%s: the validation set is a %T, want a text as ids ([]int)", lm.label(), set)
	}
	s, err := lm.Evaluate(ids)
	if err != nil {
		return graph.Metrics{}, err
	}
	return graph.Metrics{Loss: s.Loss, N: s.Tokens}, nil
}

// batch builds the Net's batch of b rows of t steps from ids x and targets y, (b, t)
// row-major: one-hot inputs (b, t, V), or ids (b, t) with an embedding, and target ids, in the
// parameters' dtype. With reuse, the tensors are the model's scratch tensors, rewritten.
func (lm *LanguageModel) batch(b, t int, x, y []int, reuse bool) (*data.SequenceBatch, error) {
	V := lm.vocab.Size()
	for _, ids := range []struct {
		what string
		ids  []int
	}{{"input", x}, {"target", y}} {
		for i, id := range ids.ids {
			if id < 0 || id >= V {
				return nil, fmt.Errorf("%s: %s id %d at position %d is outside the vocabulary of %d", lm.label(), ids.what, id, i, V)
			}
		}
	}
	bt := &data.SequenceBatch{Y: lm.zeroed(&lm.scratchY, reuse, b, t)}
	setIDs(bt.Y, y, 1)
	if lm.cfg.Embedding > 0 {
		bt.X = lm.zeroed(&lm.scratchX, reuse, b, t)
		setIDs(bt.X, x, 1)
	} else {
		bt.X = lm.zeroed(&lm.scratchX, reuse, b, t, V)
		setIDs(bt.X, x, V)
	}
	return bt, nil
}

// zeroed returns a tensor of zeros of the parameters' dtype: the one in slot, cleared, when
// reuse is set and its shape fits (a new one is kept there otherwise), or a new one.
func (lm *LanguageModel) zeroed(slot **tensor.Dense, reuse bool, shape ...int) *tensor.Dense {
	if !reuse || *slot == nil || !(*slot).Shape().Eq(tensor.Shape(shape)) {
		t := graph.NewTensor(lm.ps.Dtype(), shape, nil)
		if reuse {
			*slot = t
		}
		return t
	}
	switch v := (*slot).Data().(type) {
	case []float32:
		clear(v)
	case []float64:
		clear(v)
	}
	return *slot
}

// setIDs writes ids into t: with width 1, element i is ids[i]; with width V, element
// i·V + ids[i] is 1 (one-hot rows).
func setIDs(t *tensor.Dense, ids []int, width int) {
	switch v := t.Data().(type) {
	case []float32:
		writeIDs(v, ids, width)
	case []float64:
		writeIDs(v, ids, width)
	}
}

func writeIDs[T float32 | float64](v []T, ids []int, width int) {
	for i, id := range ids {
		if width == 1 {
			v[i] = T(id)
		} else {
			v[i*width+id] = 1
		}
	}
}

// TextScore is a language model's score on a text.
type TextScore struct {
	Loss       float64 `json:"loss"`       // mean cross-entropy per character, in nats
	Perplexity float64 `json:"perplexity"` // exp(Loss)
	BPC        float64 `json:"bpc"`        // bits per character, Loss / ln 2
	Tokens     int     `json:"tokens"`     // characters predicted
}

// evalSegment is the number of steps of the graphs Evaluate reads a text with.
const evalSegment = 64

// checkText checks a text to score: at least two ids, all in the vocabulary.
func (lm *LanguageModel) checkText(ids []int) error {
	if len(ids) < 2 {
		return fmt.Errorf("%s: evaluate: %d characters: need at least 2 (an input and its successor)", lm.label(), len(ids))
	}
	for i, id := range ids {
		if id < 0 || id >= lm.vocab.Size() {
			return fmt.Errorf("%s: evaluate: id %d at position %d is outside the vocabulary of %d", lm.label(), id, i, lm.vocab.Size())
		}
	}
	return nil
}

// Evaluate scores the model on a text given as ids: it reads the text as one stream from a
// zero state, in segments with the state carried from each to the next, predicting each
// character from all those before it, and returns the mean cross-entropy of the len(ids)-1
// predictions in nats, the perplexity and the bits per character. Dropout is off, and the
// training's carried state is left as it is.
func (lm *LanguageModel) Evaluate(ids []int) (*TextScore, error) {
	return lm.evaluate(ids, evalSegment)
}

// evaluate is Evaluate reading the text in segments of k steps.
func (lm *LanguageModel) evaluate(ids []int, k int) (*TextScore, error) {
	if err := lm.checkText(ids); err != nil {
		return nil, err
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
		bt, err := lm.batch(1, steps, ids[s:s+steps], ids[s+1:s+steps+1], false)
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
	return &TextScore{Loss: loss, Perplexity: math.Exp(loss), BPC: loss / math.Ln2, Tokens: n}, nil
}

// evalProgram returns the compiled evaluation graph of batch 1 and k steps, whose initial
// state is carried (named by StateName), with outputs "loss" and "pred" (the logits, (k, V)).
func (lm *LanguageModel) evalProgram(k int) (*graph.Program, error) {
	if p, ok := lm.evals[k]; ok {
		return p, nil
	}
	b := graph.NewBuilder(lm.ps, graph.Eval)
	init, err := lm.net.stateInputs(b, 1, b.State)
	if err != nil {
		return nil, err
	}
	seq, err := lm.net.Build(b, 1, k, init)
	if err != nil {
		return nil, err
	}
	if err := lm.net.carryFinal(b, seq); err != nil {
		return nil, err
	}
	p, err := graph.Compile(b, map[string]*gorgonia.Node{"loss": seq.Loss, "pred": seq.Pred})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", lm.label(), err)
	}
	lm.evals[k] = p
	return p, nil
}
