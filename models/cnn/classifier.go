package cnn

import (
	"fmt"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/internal/compute"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// The classifier's defaults: the training batch size, the learning rate of the default solver
// (Adam) and the batch size of the evaluation graphs.
const (
	defaultBatch = 64
	defaultLR    = 1e-3
	evalBatch    = 500
)

// Classifier trains a model that maps images (B, C, H, W) to class scores (B, Classes), the
// logits of a softmax classifier, with softmax cross-entropy, and evaluates it. Training runs
// through graph.Fit, the one training loop, on graphs compiled for the batch size asked;
// evaluation and prediction build graphs of their own batch sizes from the same parameters.
// The training run (graph.Run: solver, epochs, history, the training data's order and
// position) is part of the classifier's checkpoints, so a resumed run continues exactly where
// it stopped.
//
// Normalisation: the classifier records the normalisation of the data it was trained on
// (data.ImageSet.Norm; none for a set that records none, which trains on values in [0, 1])
// and saves it in its checkpoints. A set that records no normalisation, given to Fit,
// Evaluate or Predict, is normalised as the training data was; a set normalised otherwise is
// an error.
//
// A Classifier is not safe for concurrent use: Predict and Evaluate keep the programs they
// compile, and Fit updates the parameters. To predict from several goroutines, let each
// compile its own evaluation program from the model (graph.NewBuilder over Model().Params()
// in graph.Eval mode, Model().Forward, graph.Compile): the programs only read the parameters,
// so they may run together, but not while Fit or a Load changes them.
type Classifier struct {
	model   nodes.Model
	ps      *graph.Params
	input   []int // (C, H, W)
	classes int

	run      graph.Run
	batch    int // the run's training batch size; 0 until the run has one
	trainers map[int]*graph.Trainer
	evals    map[int]*graph.Program

	iter    *data.ImageBatches
	iterSet *data.ImageSet // the caller's set the iterator serves

	norm      data.Normalization // of the training data
	normKnown bool               // whether norm is known: trained, or read from a checkpoint
}

// NewClassifier returns a classifier of model, which must take images (C, H, W) (its
// InputShape) and give class scores of shape (batch, classes). The solver is a fit option
// (graph.Solver).
func NewClassifier(model nodes.Model) (*Classifier, error) {
	if model == nil {
		return nil, fmt.Errorf("classifier: no model")
	}
	ps := model.Params()
	if ps == nil {
		return nil, fmt.Errorf("classifier: %s has no parameters (nil Params)", model.Name())
	}
	in := model.InputShape()
	if len(in) != 3 {
		return nil, fmt.Errorf("classifier: %s takes examples of shape %v; a classifier takes images (channels, height, width)", model.Name(), in)
	}
	// Build the model once, for one image, to learn its number of classes.
	b := graph.NewBuilder(ps, graph.Eval)
	x, err := b.Input("x", append([]int{1}, in...)...)
	if err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	y, err := model.Forward(b, x)
	if err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	if s := y.Shape(); len(s) != 2 || s[1] < 1 {
		return nil, fmt.Errorf("classifier: %s gives outputs of shape %v for one image; a classifier needs (batch, classes)", model.Name(), s)
	}
	c := &Classifier{model: model, ps: ps, input: in, classes: y.Shape()[1],
		trainers: map[int]*graph.Trainer{}, evals: map[int]*graph.Program{}}
	c.run.SetExtra(c.extra)
	return c, nil
}

// Model is the classifier's model.
func (c *Classifier) Model() nodes.Model { return c.model }

// Params is the parameter set the classifier trains, the model's.
func (c *Classifier) Params() *graph.Params { return c.ps }

// Run is the training run: its solver, completed epochs, steps and history.
func (c *Classifier) Run() *graph.Run { return &c.run }

// Classes is the number of classes, the size of the model's output.
func (c *Classifier) Classes() int { return c.classes }

// Normalization is the normalisation of the data the classifier was trained on; known is false
// before it was trained or loaded one from a checkpoint.
func (c *Classifier) Normalization() (n data.Normalization, known bool) {
	return c.norm, c.normKnown
}

// Fit trains on train with the fit options (graph.Epochs, graph.Steps, graph.Batch,
// graph.Solver, graph.ClipNorm, graph.Schedule, graph.Validation with an image set,
// graph.OnStep, graph.OnEpoch, graph.Checkpoints, graph.EarlyStopping) and returns the history
// of every completed epoch, across resumes. Epochs is a count to run in this call: a second
// Fit(train, graph.Epochs(2)) trains two more epochs.
//
// The defaults: one epoch; batches of 64 images, shuffled from the parameters' random source,
// each epoch's last short batch left out; Adam with learning rate 1e-3 when neither the
// options nor an earlier Fit gave a solver (a run keeps its solver, and a checkpoint's solver
// state is restored into the next Fit's). A run keeps its batch size: the first Fit (or the
// checkpoint loaded) sets it, and a later Fit that asks for another is an error.
func (c *Classifier) Fit(train *data.ImageSet, opts ...graph.FitOption) (*graph.History, error) {
	cfg, err := graph.NewFitConfig(opts...)
	if err != nil {
		return nil, err
	}
	set, err := c.prepare(train, "training set", true)
	if err != nil {
		return nil, err
	}
	if cfg.Validation != nil {
		if _, ok := cfg.Validation.(*data.ImageSet); !ok {
			return nil, fmt.Errorf("classifier: the validation set is a %T, want a *data.ImageSet", cfg.Validation)
		}
	}
	if cfg.Batch == 0 {
		cfg.Batch = c.batch
		if cfg.Batch == 0 {
			cfg.Batch = defaultBatch
		}
	}
	if c.batch != 0 && cfg.Batch != c.batch {
		return nil, fmt.Errorf("classifier: the run was trained with batch %d, this Fit asks for %d (a run keeps its batch size)", c.batch, cfg.Batch)
	}
	if cfg.Solver == nil && c.run.Solver() == nil {
		cfg.Solver = solvers.NewAdam(defaultLR)
	}
	if err := c.startIterator(train, set, cfg.Batch); err != nil {
		return nil, err
	}
	c.norm, c.normKnown = set.Norm, true
	return graph.Fit[*data.ImageBatch](c, &c.run, imageData{c.iter}, cfg)
}

// imageData is the training iterator as graph.Fit takes it; its position passes through to
// the run's checkpoints.
type imageData struct{ *data.ImageBatches }

func (d imageData) Pass() graph.Pass[*data.ImageBatch] { return d.ImageBatches.Pass() }

// startIterator makes the training iterator over set (train normalised), or keeps the one of
// an earlier Fit over the same images, which continues where it stopped.
func (c *Classifier) startIterator(train, set *data.ImageSet, batch int) error {
	if c.iter != nil && sameImages(c.iterSet, train) {
		return nil
	}
	it, err := data.NewImageBatches(set, batch, data.Shuffle(c.ps.Rand()), data.DropLast(), data.Dtype(c.ps.Dtype()))
	if err != nil {
		return fmt.Errorf("fit: %w", err)
	}
	c.iter, c.iterSet, c.batch = it, train, batch
	return nil
}

// sameImages reports whether a and b are the same images and labels in the same memory (the
// same set, or two equal Head or Subset views of one).
func sameImages(a, b *data.ImageSet) bool {
	if a == b {
		return true
	}
	if a.N != b.N || a.C != b.C || a.H != b.H || a.W != b.W || len(a.Pixels) != len(b.Pixels) || len(a.Values) != len(b.Values) ||
		!slices.Equal(a.Norm.Mean, b.Norm.Mean) || !slices.Equal(a.Norm.Std, b.Norm.Std) {
		return false
	}
	return &a.Labels[0] == &b.Labels[0] && (a.Pixels == nil || &a.Pixels[0] == &b.Pixels[0]) && (a.Values == nil || &a.Values[0] == &b.Values[0])
}

// TrainBatch trains on one batch with the solver and clipping of cfg: one solver update, on a
// training graph compiled for the batch's size (and kept). Fit calls it (graph.Learner).
//
// In a data-parallel run (graph.DataParallel) the rank trains on its share of the batch
// (FitConfig.Shard) and the ranks average their gradients; the statistics are the whole
// batch's.
func (c *Classifier) TrainBatch(batch *data.ImageBatch, cfg *graph.FitConfig) (graph.BatchStats, error) {
	if batch == nil || batch.X == nil || len(batch.Labels) == 0 {
		return graph.BatchStats{}, fmt.Errorf("classifier: empty batch")
	}
	n := len(batch.Labels)
	lo, hi, err := cfg.Shard(n)
	if err != nil {
		return graph.BatchStats{}, fmt.Errorf("classifier: %w", err)
	}
	x, labels := batch.X, batch.Labels[lo:hi]
	if hi-lo != n {
		x = imageRows(c.convert(x), lo, hi)
	}
	tr, err := c.trainer(hi - lo)
	if err != nil {
		return graph.BatchStats{}, err
	}
	tr.SetSolver(cfg.Solver)
	tr.SetGroup(cfg.Group)
	if err := tr.SetClip(cfg.Clip); err != nil {
		return graph.BatchStats{}, err
	}
	res, err := tr.Step(graph.Feeds{"x": c.convert(x), "y": labelTensor(c.ps.Dtype(), labels)})
	if err != nil {
		return graph.BatchStats{}, err
	}
	right, err := cfg.SumOverRanks(float64(correct(res.Outputs["logits"], labels)))
	if err != nil {
		return graph.BatchStats{}, fmt.Errorf("classifier: %w", err)
	}
	return graph.BatchStats{Loss: res.Loss, Examples: n, Correct: int(right), GradNorm: res.GradNorm}, nil
}

// imageRows returns images [lo, hi) of a batch x (B, C, H, W), a view of its values.
func imageRows(x *tensor.Dense, lo, hi int) *tensor.Dense {
	s := x.Shape()
	per := s[1] * s[2] * s[3]
	shape := []int{hi - lo, s[1], s[2], s[3]}
	switch v := x.Data().(type) {
	case []float32:
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v[lo*per:hi*per]))
	default:
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v.([]float64)[lo*per:hi*per]))
	}
}

// trainer returns the training graph for batches of n images, compiling it the first time.
func (c *Classifier) trainer(n int) (*graph.Trainer, error) {
	if tr, ok := c.trainers[n]; ok {
		return tr, nil
	}
	b := graph.NewBuilder(c.ps, graph.Train)
	logits, err := c.logits(b, n)
	if err != nil {
		return nil, err
	}
	y, err := b.Input("y", n)
	if err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	loss, err := nodes.SoftmaxCrossEntropy(b, logits, y)
	if err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	tr, err := graph.NewTrainer(b, loss, nil, graph.WithOutputs(map[string]*gorgonia.Node{"logits": logits}))
	if err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	c.trainers[n] = tr
	return tr, nil
}

// logits declares the image input "x" of a graph for batches of n and applies the model.
func (c *Classifier) logits(b *graph.Builder, n int) (*gorgonia.Node, error) {
	x, err := b.Input("x", append([]int{n}, c.input...)...)
	if err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	return c.model.Forward(b, x)
}

// Validate scores the model on a validation set, a *data.ImageSet (graph.Learner; the
// graph.Validation option of Fit).
func (c *Classifier) Validate(set any) (graph.Metrics, error) {
	s, ok := set.(*data.ImageSet)
	if !ok {
		return graph.Metrics{}, fmt.Errorf("classifier: the validation set is a %T, want a *data.ImageSet", set)
	}
	ev, err := c.Evaluate(s)
	if err != nil {
		return graph.Metrics{}, err
	}
	return graph.Metrics{Loss: ev.Loss, Accuracy: ev.Accuracy, HasAccuracy: true, N: ev.N}, nil
}

// prepare checks that set fits the model (images of its shape; with labels, no label beyond
// its classes) and returns it normalised as the training data was (see Classifier).
func (c *Classifier) prepare(set *data.ImageSet, what string, labels bool) (*data.ImageSet, error) {
	if set == nil || set.Len() == 0 {
		return nil, fmt.Errorf("classifier: the %s is empty", what)
	}
	ch, h, w := c.input[0], c.input[1], c.input[2]
	switch {
	case set.Channels() != ch:
		return nil, fmt.Errorf("classifier: the %s has images of %d channels, %s expects %dx%dx%d", what, set.Channels(), c.model.Name(), ch, h, w)
	case set.H != h || set.W != w:
		return nil, fmt.Errorf("classifier: the %s has %dx%d images, %s expects %dx%dx%d", what, set.H, set.W, c.model.Name(), ch, h, w)
	case labels && set.Classes > c.classes:
		return nil, fmt.Errorf("classifier: the %s has %d classes, %s has %d outputs", what, set.Classes, c.model.Name(), c.classes)
	}
	if labels {
		for i, l := range set.Labels {
			if l < 0 || l >= c.classes {
				return nil, fmt.Errorf("classifier: the %s has label %d at index %d, %s has %d outputs", what, l, i, c.model.Name(), c.classes)
			}
		}
	}
	switch {
	case !c.normKnown:
		return set, nil
	case set.Norm.IsZero():
		if c.norm.IsZero() {
			return set, nil
		}
		s, err := set.Normalize(c.norm)
		if err != nil {
			return nil, fmt.Errorf("classifier: the %s: %w", what, err)
		}
		return s, nil
	case !slices.Equal(set.Norm.Mean, c.norm.Mean) || !slices.Equal(set.Norm.Std, c.norm.Std):
		return nil, fmt.Errorf("classifier: the %s is normalised with %v, the training data with %v (normalise every set with the training set's statistics)", what, set.Norm, c.norm)
	}
	return set, nil
}

// convert returns x in the parameters' dtype.
func (c *Classifier) convert(x *tensor.Dense) *tensor.Dense {
	if x.Dtype() == c.ps.Dtype() {
		return x
	}
	return graph.Convert(x, c.ps.Dtype())
}

// labelTensor holds class ids as the float labels the loss takes.
func labelTensor(dt tensor.Dtype, labels []int) *tensor.Dense {
	v := make([]float64, len(labels))
	for i, l := range labels {
		v[i] = float64(l)
	}
	return graph.NewTensor(dt, []int{len(labels)}, v)
}

// correct counts the rows of logits (B, K) whose largest score is at the label.
func correct(logits *tensor.Dense, labels []int) int {
	k := logits.Shape()[1]
	v := graph.Float64s(logits)
	n := 0
	for i, l := range labels {
		if compute.ArgMax(v[i*k:(i+1)*k]) == l {
			n++
		}
	}
	return n
}
