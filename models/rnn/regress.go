package rnn

import (
	"fmt"
	"math"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// regressor is a model that maps windows (B, w) to predictions (B, 1) in a graph: AR and
// LatentAR. A windowTrainer trains and runs it.
type regressor interface {
	Window() int
	// build declares the inputs of a graph for batch windows and returns the predictions
	// (batch, 1) and the mean squared error against the targets.
	build(b *graph.Builder, batch int) (pred, loss *gorgonia.Node, err error)
	// feeds fills those inputs from batch windows x, row-major (batch, w), and targets y
	// (nil when predicting).
	feeds(dt tensor.Dtype, x, y []float64, batch int) (graph.Feeds, error)
	// spec describes the model in its checkpoints.
	spec() any
}

// defaultWindowBatch is the training batch size of AR and LatentAR when graph.Batch sets none.
const defaultWindowBatch = 16

// windowTrainer is what AR and LatentAR share: training on the windows of a series through
// graph.Fit, prediction, evaluation and checkpoints.
type windowTrainer struct {
	label    string
	ps       *graph.Params
	model    regressor
	run      graph.Run
	trainers map[int]*graph.Trainer // by batch size
	preds    map[int]*graph.Program // by batch size
	iter     *sequenceData
	series   []float64 // the series iter serves the windows of
}

func newWindowTrainer(label string, ps *graph.Params, m regressor) *windowTrainer {
	w := &windowTrainer{label: label, ps: ps, model: m, trainers: map[int]*graph.Trainer{}, preds: map[int]*graph.Program{}}
	w.run.SetExtra(func() (*graph.Extra, error) { return modelExtra(m.spec()) })
	return w
}

// windowSet returns the windows of series and their targets as a set: X (N, w), Y (N, 1).
func (w *windowTrainer) windowSet(series []float64, what string) (*data.SequenceSet, error) {
	x, y, err := data.Windows(series, w.model.Window())
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", w.label, what, err)
	}
	n, win := len(y), w.model.Window()
	return &data.SequenceSet{X: graph.NewTensor(tensor.Float64, []int{n, win}, x), Y: graph.NewTensor(tensor.Float64, []int{n, 1}, y)}, nil
}

// fit is the models' Fit: see AR.Fit.
func (w *windowTrainer) fit(series []float64, opts []graph.FitOption) (*graph.History, error) {
	h := w.run.History()
	cfg, err := graph.NewFitConfig(opts...)
	if err != nil {
		return &h, fmt.Errorf("%s: %w", w.label, err)
	}
	set, err := w.windowSet(series, "fit")
	if err != nil {
		return &h, err
	}
	if cfg.Validation != nil {
		val, ok := cfg.Validation.([]float64)
		if !ok {
			return &h, fmt.Errorf("%s: the validation set is a %T, want a series ([]float64)", w.label, cfg.Validation)
		}
		if _, err := w.windowSet(val, "validation series"); err != nil {
			return &h, err
		}
	}
	batch := cfg.Batch
	if batch == 0 {
		batch = defaultWindowBatch
	}
	batch = min(batch, set.Len())
	if w.iter == nil || w.iter.batch != batch || !slices.Equal(w.series, series) {
		if w.iter, err = newSequenceData(set, batch, w.ps.Rand(), false); err != nil {
			return &h, fmt.Errorf("%s: %w", w.label, err)
		}
		w.series = slices.Clone(series)
	}
	if cfg.Solver == nil && w.run.Solver() == nil {
		cfg.Solver = solvers.NewAdam(0.01)
	}
	return graph.Fit[*data.SequenceBatch](w, &w.run, w.iter, cfg)
}

// Params is the parameter set the model lives in.
func (w *windowTrainer) Params() *graph.Params { return w.ps }

// TrainBatch makes one update on a batch of windows X (B, w) and targets Y (B, 1).
func (w *windowTrainer) TrainBatch(bt *data.SequenceBatch, cfg *graph.FitConfig) (graph.BatchStats, error) {
	win := w.model.Window()
	if bt == nil || bt.X == nil || bt.Y == nil || !bt.X.Shape().Eq(tensor.Shape{bt.Size(), win}) || !bt.Y.Shape().Eq(tensor.Shape{bt.Size(), 1}) {
		return graph.BatchStats{}, fmt.Errorf("%s: a batch of windows must be X (B, %d) and Y (B, 1)", w.label, win)
	}
	size := bt.Size()
	t, ok := w.trainers[size]
	if !ok {
		b := graph.NewBuilder(w.ps, graph.Train)
		_, loss, err := w.model.build(b, size)
		if err != nil {
			return graph.BatchStats{}, err
		}
		if t, err = graph.NewTrainer(b, loss, nil); err != nil {
			return graph.BatchStats{}, fmt.Errorf("%s: %w", w.label, err)
		}
		w.trainers[size] = t
	}
	f, err := w.model.feeds(w.ps.Dtype(), graph.Float64s(bt.X), graph.Float64s(bt.Y), size)
	if err != nil {
		return graph.BatchStats{}, err
	}
	t.SetSolver(cfg.Solver)
	if err := t.SetClip(cfg.Clip); err != nil {
		return graph.BatchStats{}, err
	}
	r, err := t.Step(f)
	if err != nil {
		return graph.BatchStats{}, fmt.Errorf("%s: %w", w.label, err)
	}
	return graph.BatchStats{Loss: r.Loss, Examples: size, Correct: -1, GradNorm: r.GradNorm}, nil
}

// Validate scores a validation series ([]float64) with evaluate.
func (w *windowTrainer) Validate(set any) (graph.Metrics, error) {
	s, ok := set.([]float64)
	if !ok {
		return graph.Metrics{}, fmt.Errorf("%s: the validation set is a %T, want a series ([]float64)", w.label, set)
	}
	return w.evaluate(s)
}

// evaluate is the mean squared error of the one-step predictions of every window of series.
func (w *windowTrainer) evaluate(series []float64) (graph.Metrics, error) {
	x, y, err := data.Windows(series, w.model.Window())
	if err != nil {
		return graph.Metrics{}, fmt.Errorf("%s: evaluate: %w", w.label, err)
	}
	pred, err := w.predict(x)
	if err != nil {
		return graph.Metrics{}, err
	}
	var ss float64
	for i, p := range pred {
		ss += (p - y[i]) * (p - y[i])
	}
	m := graph.Metrics{Loss: ss / float64(len(y)), N: len(y)}
	if math.IsNaN(m.Loss) || math.IsInf(m.Loss, 0) {
		return graph.Metrics{}, fmt.Errorf("%s: evaluate: the loss is %v", w.label, m.Loss)
	}
	return m, nil
}

// predictChunk is the largest batch a prediction graph is built for.
const predictChunk = 256

// predict maps n windows, (n, w) row-major, to n predictions.
func (w *windowTrainer) predict(windows []float64) ([]float64, error) {
	win := w.model.Window()
	n, err := checkWindows(w.label, windows, win)
	if err != nil {
		return nil, err
	}
	out := make([]float64, 0, n)
	for start := 0; start < n; start += predictChunk {
		size := min(predictChunk, n-start)
		prog, ok := w.preds[size]
		if !ok {
			b := graph.NewBuilder(w.ps, graph.Eval)
			pred, _, err := w.model.build(b, size)
			if err != nil {
				return nil, err
			}
			if prog, err = graph.Compile(b, map[string]*gorgonia.Node{"pred": pred}); err != nil {
				return nil, fmt.Errorf("%s: %w", w.label, err)
			}
			w.preds[size] = prog
		}
		f, err := w.model.feeds(w.ps.Dtype(), windows[start*win:(start+size)*win], nil, size)
		if err != nil {
			return nil, err
		}
		res, err := prog.Run(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", w.label, err)
		}
		out = append(out, graph.Float64s(res["pred"])...)
	}
	return out, nil
}

// saveCheckpoint writes the parameters, the random source, the run and the model's
// description to path.
func (w *windowTrainer) saveCheckpoint(path string) error {
	e, err := modelExtra(w.model.spec())
	if err != nil {
		return fmt.Errorf("%s: checkpoint %s: %w", w.label, path, err)
	}
	return graph.SaveCheckpoint(path, w.ps, &w.run, e)
}

// loadCheckpoint restores what saveCheckpoint wrote, for a model of the same description.
func (w *windowTrainer) loadCheckpoint(path string) error {
	c, err := readModelCheckpoint(path, w.label, w.model.spec())
	if err != nil {
		return err
	}
	if err := c.Restore(w.ps, &w.run); err != nil {
		return err
	}
	w.iter, w.series = nil, nil
	return nil
}

// mseLoss is the mean squared error mean((pred - y)²) of two (B, 1) nodes.
func mseLoss(b *graph.Builder, name string, pred, y *gorgonia.Node) (*gorgonia.Node, error) {
	loss, err := nodes.MSE(b, pred, y)
	if err != nil {
		return nil, fmt.Errorf("%s: loss: %w", name, err)
	}
	return loss, nil
}
