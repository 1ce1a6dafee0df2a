package rnn

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/solvers"
)

// defaultNetBatch is a Net's training batch size when graph.Batch does not set one.
const defaultNetBatch = 32

// evalChunk is the largest batch an evaluation or prediction graph is built for.
const evalChunk = 256

// Fit trains the net on train with graph.Fit, the training loop every model of unroll uses,
// and returns the history of every completed epoch across calls and resumes. A second call
// continues where the first stopped (graph.Epochs is a number of epochs to run, not a total).
//
// Batches hold graph.Batch sequences (default 32, or the whole set when it is smaller), drawn in
// a new order each epoch from the parameters' random source (graph.Params.Rand); the last
// batch of an epoch is left out when it would be short. Every batch starts from zero state:
// the sequences of a set are independent. With graph.Segment(k), k smaller than the sequences'
// T steps, each batch is trained by truncated backpropagation through time over segments of
// k steps, one update each, the state carried from segment to segment (the last segment is
// shorter when k does not divide T); by default a batch is one segment of T steps, full
// backpropagation through time. A LastState or MeanPool readout has one loss at the end of the
// sequence, and a bidirectional network reads the sequence backwards too: both refuse a
// segment shorter than the sequences, here, before any training.
//
// The solver is graph.Solver's, or the one of an earlier Fit, or Adam with a learning rate of
// 1e-3 (PyTorch's default). graph.Validation takes a *data.SequenceSet.
func (n *Net) Fit(train *data.SequenceSet, opts ...graph.FitOption) (*graph.History, error) {
	h := n.run.History()
	cfg, err := graph.NewFitConfig(opts...)
	if err != nil {
		return &h, fmt.Errorf("%s: %w", n.label(), err)
	}
	if err := n.checkSet(train, "training set", true); err != nil {
		return &h, err
	}
	if _, err := n.segmentLength(cfg, train.Steps()); err != nil {
		return &h, err
	}
	if cfg.Validation != nil {
		val, ok := cfg.Validation.(*data.SequenceSet)
		if !ok {
			return &h, fmt.Errorf("%s: the validation set is a %T, want a *data.SequenceSet", n.label(), cfg.Validation)
		}
		if err := n.checkSet(val, "validation set", true); err != nil {
			return &h, err
		}
	}
	batch := cfg.Batch
	if batch == 0 {
		batch = min(defaultNetBatch, train.Len())
	}
	if n.iter == nil || n.iter.set != train || n.iter.batch != batch {
		if n.iter, err = newSequenceData(train, batch, n.ps.Rand(), true); err != nil {
			return &h, fmt.Errorf("%s: %w", n.label(), err)
		}
	}
	if cfg.Solver == nil && n.run.Solver() == nil {
		cfg.Solver = solvers.NewAdam(1e-3)
	}
	return graph.Fit[*data.SequenceBatch](n, &n.run, n.iter, cfg)
}

// checkSet checks a set against the net (shapes, ids, targets when targets, mask) without
// copying it; what names it in errors.
func (n *Net) checkSet(set *data.SequenceSet, what string, targets bool) error {
	if set == nil || set.X == nil {
		return fmt.Errorf("%s: the %s has no inputs", n.label(), what)
	}
	if err := n.checkBatch(&data.SequenceBatch{X: set.X, Y: set.Y, Mask: set.Mask}, targets); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// TrainBatch trains on one batch, from zero state, in segments of graph.Segment steps with
// cfg's solver and clipping (see Fit). It is the net's part of graph.Fit's loop; BatchStats
// counts the real steps of an every-step readout and the sequences of the others, and the
// correct predictions for CrossEntropy.
func (n *Net) TrainBatch(bt *data.SequenceBatch, cfg *graph.FitConfig) (graph.BatchStats, error) {
	return n.train.trainBatch(bt, cfg, false)
}

// Validate scores a validation set, a *data.SequenceSet, with Evaluate.
func (n *Net) Validate(set any) (graph.Metrics, error) {
	s, ok := set.(*data.SequenceSet)
	if !ok {
		return graph.Metrics{}, fmt.Errorf("%s: the validation set is a %T, want a *data.SequenceSet", n.label(), set)
	}
	return n.Evaluate(s)
}

// Evaluate scores the net on a set in evaluation mode (no dropout), each sequence read whole
// from zero state: the mean loss over the real steps (EveryStep) or the sequences (LastState,
// MeanPool), and for CrossEntropy the accuracy, the fraction of those whose likeliest class is
// the target. N counts them.
func (n *Net) Evaluate(set *data.SequenceSet) (graph.Metrics, error) {
	if err := n.checkSet(set, "evaluation set", true); err != nil {
		return graph.Metrics{}, err
	}
	var total, weight float64
	correct := 0
	err := n.eachChunk(set, func(bt *data.SequenceBatch, out graph.Outputs) error {
		loss, err := graph.Scalar(out["loss"])
		if err != nil {
			return err
		}
		w := float64(bt.Size())
		if n.cfg.readout == EveryStep {
			w = n.realSteps(bt, 0, bt.Steps())
		}
		total += w * loss
		weight += w
		correct += n.correct(out["pred"], bt, 0, bt.Steps())
		return nil
	})
	if err != nil {
		return graph.Metrics{}, err
	}
	m := graph.Metrics{N: int(weight)}
	if weight > 0 {
		m.Loss = total / weight
	}
	if math.IsNaN(m.Loss) || math.IsInf(m.Loss, 0) {
		return graph.Metrics{}, fmt.Errorf("%s: evaluate: the loss is %v", n.label(), m.Loss)
	}
	if n.cfg.loss == CrossEntropy && weight > 0 {
		m.Accuracy, m.HasAccuracy = float64(correct)/weight, true
	}
	return m, nil
}

// eachChunk runs the evaluation graph on the set in batches of up to evalChunk sequences and
// calls f with each batch and its outputs, the loss and the head's output "pred".
func (n *Net) eachChunk(set *data.SequenceSet, f func(*data.SequenceBatch, graph.Outputs) error) error {
	N, T := set.Len(), set.Steps()
	for lo := 0; lo < N; lo += evalChunk {
		hi := min(N, lo+evalChunk)
		bt := &data.SequenceBatch{X: rowsOf(set.X, lo, hi), Y: rowsOf(set.Y, lo, hi), Mask: rowsOf(set.Mask, lo, hi)}
		prog, err := n.evalProgram(hi-lo, T)
		if err != nil {
			return err
		}
		feeds, err := n.feeds(bt, 0, T, nil)
		if err != nil {
			return err
		}
		out, err := prog.Run(feeds)
		if err != nil {
			return fmt.Errorf("%s: sequences %d-%d: %w", n.label(), lo, hi-1, err)
		}
		if err := f(bt, out); err != nil {
			return fmt.Errorf("%s: %w", n.label(), err)
		}
	}
	return nil
}

// evalProgram returns the evaluation graph for batch sequences of k steps from zero state,
// with outputs "loss" and "pred", compiling it the first time.
func (n *Net) evalProgram(batch, k int) (*graph.Program, error) {
	if p, ok := n.evals[[2]int{batch, k}]; ok {
		return p, nil
	}
	b := graph.NewBuilder(n.ps, graph.Eval)
	seq, err := n.Build(b, batch, k, nil)
	if err != nil {
		return nil, err
	}
	p, err := graph.Compile(b, map[string]*gorgonia.Node{"loss": seq.Loss, "pred": seq.Pred})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.label(), err)
	}
	n.evals[[2]int{batch, k}] = p
	return p, nil
}

// Prediction is what a Net predicts for N sequences: one prediction per sequence (LastState,
// MeanPool; T is 1) or per step (EveryStep; T is the number of steps), each of Out classes or
// values, batch-major: prediction t of sequence i is at index i·T + t.
type Prediction struct {
	N   int `json:"n"`
	T   int `json:"t"`
	Out int `json:"out"`
	// Classes holds the likeliest class of each prediction (CrossEntropy); -1 at padded steps.
	Classes []int `json:"classes,omitempty"`
	// Probs holds the classes' probabilities, the softmax of the head's logits (CrossEntropy):
	// element (i·T + t)·Out + j is class j's; zero at padded steps.
	Probs []float64 `json:"probs,omitempty"`
	// Values holds the head's outputs (MSE), indexed as Probs; zero at padded steps.
	Values []float64 `json:"values,omitempty"`
}

// Predict runs the net on a set in evaluation mode, each sequence read whole from zero state,
// and decodes the head's output into a Prediction (every-step outputs, time-major in the
// graph, come back batch-major). The set needs inputs X, and a mask for a masked net; its
// targets, if any, are not read.
func (n *Net) Predict(set *data.SequenceSet) (*Prediction, error) {
	if err := n.checkSet(set, "prediction set", false); err != nil {
		return nil, err
	}
	N, T := set.Len(), set.Steps()
	p := &Prediction{N: N, T: 1, Out: n.out}
	if n.cfg.readout == EveryStep {
		p.T = T
	}
	vals := make([]float64, N*p.T*n.out) // logits or values, batch-major
	var mask []float64
	if set.Mask != nil {
		mask = graph.Float64s(set.Mask)
	}
	lo := 0
	err := n.eachChunk(&data.SequenceSet{X: set.X, Mask: set.Mask}, func(bt *data.SequenceBatch, out graph.Outputs) error {
		B := bt.Size()
		pred := graph.Float64s(out["pred"])
		for i := range B {
			for t := range p.T {
				r := i // the graph's row: time-major for EveryStep
				if n.cfg.readout == EveryStep {
					r = t*B + i
				}
				copy(vals[((lo+i)*p.T+t)*n.out:], pred[r*n.out:(r+1)*n.out])
			}
		}
		lo += B
		return nil
	})
	if err != nil {
		return nil, err
	}
	padded := func(i, t int) bool { return mask != nil && n.cfg.readout == EveryStep && mask[i*T+t] == 0 }
	if n.cfg.loss == MSE {
		p.Values = vals
		for i := range N {
			for t := range p.T {
				if padded(i, t) {
					clear(vals[(i*p.T+t)*n.out : (i*p.T+t+1)*n.out])
				}
			}
		}
		return p, nil
	}
	p.Classes, p.Probs = make([]int, N*p.T), vals
	for i := range N {
		for t := range p.T {
			row := vals[(i*p.T+t)*n.out : (i*p.T+t+1)*n.out]
			if padded(i, t) {
				p.Classes[i*p.T+t] = -1
				clear(row)
				continue
			}
			p.Classes[i*p.T+t] = compute.ArgMax(row)
			softmax(row)
		}
	}
	return p, nil
}

// softmax replaces logits by their softmax, in place.
func softmax(z []float64) {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, v)
	}
	var sum float64
	for i, v := range z {
		z[i] = math.Exp(v - m)
		sum += z[i]
	}
	for i := range z {
		z[i] /= sum
	}
}

// Run is the net's training run: its solver, counters and history, which Fit advances and the
// checkpoints save.
func (n *Net) Run() *graph.Run { return &n.run }

// netSpec describes a Net in its checkpoints.
type netSpec struct {
	Model         string `json:"model"`
	Kind          string `json:"kind"`
	In            int    `json:"in"`
	Hidden        int    `json:"hidden"`
	Out           int    `json:"out"`
	Layers        int    `json:"layers"`
	Bidirectional bool   `json:"bidirectional"`
	Vocab         int    `json:"vocab"`
	Readout       string `json:"readout"`
	Loss          string `json:"loss"`
	Masked        bool   `json:"masked"`
}

func (n *Net) spec() netSpec {
	return netSpec{Model: "net", Kind: n.kind.String(), In: n.in, Hidden: n.rec.HiddenSize(), Out: n.out, Layers: n.rec.Layers(),
		Bidirectional: n.rec.Directions() == 2, Vocab: n.cfg.vocab, Readout: n.cfg.readout.String(), Loss: n.cfg.loss.String(),
		Masked: n.cfg.masked}
}

func (n *Net) extra() (*graph.Extra, error) { return modelExtra(n.spec()) }

// SaveCheckpoint writes everything an exact resume needs to path, atomically: the parameters,
// the random source, the training run (solver state, counters, history, the position of the
// training data) and the net's description.
func (n *Net) SaveCheckpoint(path string) error {
	e, err := n.extra()
	if err != nil {
		return fmt.Errorf("%s: checkpoint %s: %w", n.label(), path, err)
	}
	return graph.SaveCheckpoint(path, n.ps, &n.run, e)
}

// LoadCheckpoint restores a checkpoint written by SaveCheckpoint for a net built alike: the
// next Fit continues the run exactly (with the same training set). Anything that does not
// match (the description, a parameter's shape) is an error that changes nothing.
func (n *Net) LoadCheckpoint(path string) error {
	c, err := readModelCheckpoint(path, n.label(), n.spec())
	if err != nil {
		return err
	}
	if err := c.Restore(n.ps, &n.run); err != nil {
		return err
	}
	n.iter = nil
	return nil
}

// LoadWeights copies the parameters from a safetensors file (a checkpoint, or a PyTorch
// state_dict under the names NewNet documents) for inference: no solver or training state
// is read (graph.LoadWeights).
func (n *Net) LoadWeights(path string) error { return graph.LoadWeights(path, n.ps) }
