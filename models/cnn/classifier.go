package cnn

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
	"github.com/unroll-ml/unroll/solvers"
)

// Model is what a Classifier trains: a layer from images (B, C, H, W) to logits (B, Classes).
type Model interface {
	nodes.Layer
	Name() string
	InputShape() (c, h, w int)
	Classes() int
}

// Classifier trains a Model with softmax cross-entropy and evaluates it. Training runs one
// compiled graph of a fixed batch size; evaluation and prediction build graphs of their own
// batch sizes from the same parameters. The training data's order, the position in the
// current epoch and the history are part of the classifier's checkpoints, so a resumed run
// continues exactly where it stopped.
//
// A Classifier is not safe for concurrent use: Predict and Evaluate keep the programs they
// compile, and Fit updates the parameters. To predict from several goroutines, let each
// compile its own evaluation program from Params and Model (graph.NewBuilder in graph.Eval
// mode, Model().Forward, graph.Compile): the programs only read the parameters, so they may
// run together, but not while Fit or Load changes them.
type Classifier struct {
	model     Model
	ps        *graph.Params
	solver    solvers.Solver
	batch     int
	evalBatch int
	trainer   *graph.Trainer
	evals     map[int]*graph.Program

	iter    *data.ImageBatches
	iterSet *data.ImageSet
	pending []byte // a loaded iterator position, applied when Fit makes the iterator
	run     runState
}

// runState is the position of a training run, saved in checkpoints.
type runState struct {
	Epoch   int       // completed epochs
	Step    int       // training steps taken
	Partial epochSums // sums over the current, unfinished epoch
	History History
}

type epochSums struct {
	Loss    float64
	Correct int
	Seen    int
	Steps   int
	Seconds float64
}

// History is what Fit measured, one entry per completed epoch.
type History struct {
	Epochs []EpochStats
}

// EpochStats are one epoch's figures. The test figures are set when Fit has a test set.
type EpochStats struct {
	Epoch           int // from 1
	Steps           int
	TrainLoss       float64
	TrainAccuracy   float64
	HasTest         bool
	TestLoss        float64
	TestAccuracy    float64
	Seconds         float64 // training time of the epoch
	ImagesPerSecond float64
}

// Option configures NewClassifier.
type Option func(*classifierConfig)

type classifierConfig struct {
	batch, evalBatch int
	clip             float64
}

// Batch sets the training batch size (default 64).
func Batch(n int) Option { return func(c *classifierConfig) { c.batch = n } }

// EvalBatch sets the batch size of evaluation graphs (default 500).
func EvalBatch(n int) Option { return func(c *classifierConfig) { c.evalBatch = n } }

// ClipNorm clips the gradients' global norm at max (default: no clipping).
func ClipNorm(max float64) Option { return func(c *classifierConfig) { c.clip = max } }

// NewClassifier builds the training graph of model over ps and returns a classifier that
// updates it with s.
func NewClassifier(ps *graph.Params, model Model, s solvers.Solver, opts ...Option) (*Classifier, error) {
	cfg := classifierConfig{batch: 64, evalBatch: 500}
	for _, o := range opts {
		o(&cfg)
	}
	if model == nil || ps == nil || s == nil {
		return nil, fmt.Errorf("classifier: needs parameters, a model and a solver")
	}
	if cfg.batch < 1 || cfg.evalBatch < 1 {
		return nil, fmt.Errorf("classifier: batch sizes must be positive, got %d and %d", cfg.batch, cfg.evalBatch)
	}
	c := &Classifier{model: model, ps: ps, solver: s, batch: cfg.batch, evalBatch: cfg.evalBatch, evals: map[int]*graph.Program{}}
	b := graph.NewBuilder(ps, graph.Train)
	logits, err := c.logits(b, cfg.batch)
	if err != nil {
		return nil, err
	}
	y, err := b.Input("y", cfg.batch)
	if err != nil {
		return nil, err
	}
	loss, err := nodes.SoftmaxCrossEntropy(b, logits, y)
	if err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	var topts []graph.TrainOption
	topts = append(topts, graph.WithOutputs(map[string]*gorgonia.Node{"logits": logits}))
	if cfg.clip > 0 {
		topts = append(topts, graph.ClipNorm(cfg.clip))
	}
	if c.trainer, err = graph.NewTrainer(b, loss, s, topts...); err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	return c, nil
}

// logits declares the image input "x" of a graph and applies the model.
func (c *Classifier) logits(b *graph.Builder, batch int) (*gorgonia.Node, error) {
	ch, h, w := c.model.InputShape()
	x, err := b.Input("x", batch, ch, h, w)
	if err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	return c.model.Forward(b, x)
}

// Model is the classifier's model.
func (c *Classifier) Model() Model { return c.model }

// Params is the parameter set the classifier trains.
func (c *Classifier) Params() *graph.Params { return c.ps }

// Solver is the classifier's solver.
func (c *Classifier) Solver() solvers.Solver { return c.solver }

// History is what training measured so far.
func (c *Classifier) History() History { return c.run.History }

// Steps is the number of training steps taken so far (across resumes).
func (c *Classifier) Steps() int { return c.run.Step }

// Epochs is the number of completed epochs.
func (c *Classifier) Epochs() int { return c.run.Epoch }

// FitOption configures Fit.
type FitOption func(*fitConfig)

type fitConfig struct {
	epochs   int
	maxSteps int
	test     *data.ImageSet
	onStep   func(Progress)
	onEpoch  func(EpochStats)
}

// Epochs sets the total number of epochs to train, counting those of earlier runs resumed
// from a checkpoint (default 1).
func Epochs(n int) FitOption { return func(c *fitConfig) { c.epochs = n } }

// MaxSteps stops training after n steps in all (counting resumed ones), even in mid-epoch.
func MaxSteps(n int) FitOption { return func(c *fitConfig) { c.maxSteps = n } }

// TestSet evaluates set after every epoch.
func TestSet(set *data.ImageSet) FitOption { return func(c *fitConfig) { c.test = set } }

// OnStep calls f after every training step.
func OnStep(f func(Progress)) FitOption { return func(c *fitConfig) { c.onStep = f } }

// OnEpoch calls f after every epoch, with its figures.
func OnEpoch(f func(EpochStats)) FitOption { return func(c *fitConfig) { c.onEpoch = f } }

// Progress describes the training step just taken.
type Progress struct {
	Step          int // in all, from 1
	Epoch         int // from 1
	StepInEpoch   int // from 1
	StepsPerEpoch int
	Loss          float64
	Images        int // images trained on in this call of Fit
	Elapsed       time.Duration
}

// Fit trains on train, in shuffled batches drawn from the parameters' random source (the last
// partial batch of each epoch is left out), until Epochs or MaxSteps is reached. It returns the
// history of every completed epoch, across resumes.
func (c *Classifier) Fit(train *data.ImageSet, opts ...FitOption) (*History, error) {
	cfg := fitConfig{epochs: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.epochs < 1 || cfg.maxSteps < 0 {
		return nil, fmt.Errorf("fit: epochs must be positive (got %d) and max steps non-negative (got %d)", cfg.epochs, cfg.maxSteps)
	}
	if err := c.checkSet(train, "training set"); err != nil {
		return nil, err
	}
	if err := c.startIterator(train); err != nil {
		return nil, err
	}
	per := c.iter.NumBatches()
	if per == 0 {
		return nil, fmt.Errorf("fit: the training set has %d images, fewer than one batch of %d", train.Len(), c.batch)
	}
	start := time.Now()
	images := 0
	for c.run.Epoch < cfg.epochs {
		epochStart := time.Now()
		for {
			if cfg.maxSteps > 0 && c.run.Step >= cfg.maxSteps {
				c.run.Partial.Seconds += time.Since(epochStart).Seconds()
				return &c.run.History, nil
			}
			batch, ok := c.iter.Next()
			if !ok {
				break
			}
			res, err := c.trainer.Step(graph.Feeds{"x": batch.X, "y": labelTensor(c.ps.Dtype(), batch.Labels)})
			if err != nil {
				return &c.run.History, fmt.Errorf("fit: epoch %d: %w", c.run.Epoch+1, err)
			}
			c.run.Step++
			p := &c.run.Partial
			p.Steps++
			p.Loss += res.Loss
			p.Correct += correct(res.Outputs["logits"], batch.Labels)
			p.Seen += len(batch.Labels)
			images += len(batch.Labels)
			if cfg.onStep != nil {
				cfg.onStep(Progress{Step: c.run.Step, Epoch: c.run.Epoch + 1, StepInEpoch: p.Steps, StepsPerEpoch: per,
					Loss: res.Loss, Images: images, Elapsed: time.Since(start)})
			}
		}
		c.run.Partial.Seconds += time.Since(epochStart).Seconds()
		st := c.closeEpoch()
		if cfg.test != nil {
			ev, err := c.Evaluate(cfg.test)
			if err != nil {
				return &c.run.History, err
			}
			st.HasTest, st.TestLoss, st.TestAccuracy = true, ev.Loss, ev.Accuracy
		}
		c.run.History.Epochs = append(c.run.History.Epochs, st)
		if cfg.onEpoch != nil {
			cfg.onEpoch(st)
		}
	}
	return &c.run.History, nil
}

// closeEpoch turns the partial sums into an epoch's figures and starts the next epoch.
func (c *Classifier) closeEpoch() EpochStats {
	p := c.run.Partial
	c.run.Epoch++
	st := EpochStats{Epoch: c.run.Epoch, Steps: p.Steps, Seconds: p.Seconds}
	if p.Steps > 0 {
		st.TrainLoss = p.Loss / float64(p.Steps)
		st.TrainAccuracy = float64(p.Correct) / float64(p.Seen)
	}
	if p.Seconds > 0 {
		st.ImagesPerSecond = float64(p.Seen) / p.Seconds
	}
	c.run.Partial = epochSums{}
	c.iter.Reset()
	return st
}

func (c *Classifier) startIterator(train *data.ImageSet) error {
	if c.iter != nil && c.iterSet == train {
		return nil
	}
	it, err := data.NewImageBatches(train, c.batch, data.Shuffle(c.ps.Rand()), data.DropLast(), data.Dtype(c.ps.Dtype()))
	if err != nil {
		return fmt.Errorf("fit: %w", err)
	}
	if c.pending != nil {
		if err := it.UnmarshalBinary(c.pending); err != nil {
			return fmt.Errorf("fit: the checkpoint's data position does not fit this training set: %w", err)
		}
		c.pending = nil
	}
	c.iter, c.iterSet = it, train
	return nil
}

func (c *Classifier) checkSet(set *data.ImageSet, what string) error {
	if set == nil || set.Len() == 0 {
		return fmt.Errorf("classifier: the %s is empty", what)
	}
	ch, h, w := c.model.InputShape()
	if ch != 1 || set.H != h || set.W != w {
		return fmt.Errorf("classifier: the %s has %dx%d images, %s expects %dx%dx%d", what, set.H, set.W, c.model.Name(), ch, h, w)
	}
	if set.Classes > c.model.Classes() {
		return fmt.Errorf("classifier: the %s has %d classes, %s has %d outputs", what, set.Classes, c.model.Name(), c.model.Classes())
	}
	return nil
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
		if argmax(v[i*k:(i+1)*k]) == l {
			n++
		}
	}
	return n
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// Evaluation is a classifier's performance on a data set.
type Evaluation struct {
	Accuracy  float64
	Loss      float64 // mean softmax cross-entropy
	Confusion [][]int // Confusion[true][predicted]
	N         int
}

// Evaluate runs the model in evaluation mode over every image of set (in batches of the
// evaluation batch size; the last partial batch runs in a graph of its own size).
func (c *Classifier) Evaluate(set *data.ImageSet) (*Evaluation, error) {
	if err := c.checkSet(set, "evaluation set"); err != nil {
		return nil, err
	}
	it, err := data.NewImageBatches(set, min(c.evalBatch, set.Len()), data.Dtype(c.ps.Dtype()))
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	k := c.model.Classes()
	ev := &Evaluation{Confusion: make([][]int, k)}
	for i := range ev.Confusion {
		ev.Confusion[i] = make([]int, k)
	}
	var loss float64
	for batch, ok := it.Next(); ok; batch, ok = it.Next() {
		probs, err := c.scores(batch.X)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		for i, l := range batch.Labels {
			row := probs[i*k : (i+1)*k]
			loss -= math.Log(math.Max(row[l], 1e-300))
			ev.Confusion[l][argmax(row)]++
		}
		ev.N += len(batch.Labels)
	}
	diag := 0
	for i := range ev.Confusion {
		diag += ev.Confusion[i][i]
	}
	ev.Accuracy = float64(diag) / float64(ev.N)
	ev.Loss = loss / float64(ev.N)
	return ev, nil
}

// Predict returns the most likely class of each image of x (B, C, H, W), normalised as the
// training data was, and the class probabilities (B rows of Classes values).
func (c *Classifier) Predict(x *tensor.Dense) ([]int, [][]float64, error) {
	probs, err := c.scores(x)
	if err != nil {
		return nil, nil, fmt.Errorf("predict: %w", err)
	}
	k := c.model.Classes()
	n := len(probs) / k
	classes := make([]int, n)
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = probs[i*k : (i+1)*k]
		classes[i] = argmax(rows[i])
	}
	return classes, rows, nil
}

// scores runs an evaluation graph of x's batch size and returns softmax probabilities (B*K).
func (c *Classifier) scores(x *tensor.Dense) ([]float64, error) {
	if x == nil || x.Dims() != 4 {
		return nil, fmt.Errorf("images must be (batch, channels, height, width)")
	}
	x = graph.Convert(x, c.ps.Dtype())
	n := x.Shape()[0]
	prog, ok := c.evals[n]
	if !ok {
		b := graph.NewBuilder(c.ps, graph.Eval)
		logits, err := c.logits(b, n)
		if err != nil {
			return nil, err
		}
		p, err := nodes.Softmax{}.Forward(b, logits)
		if err != nil {
			return nil, err
		}
		if prog, err = graph.Compile(b, map[string]*gorgonia.Node{"probs": p}); err != nil {
			return nil, err
		}
		c.evals[n] = prog
	}
	out, err := prog.Run(graph.Feeds{"x": x})
	if err != nil {
		return nil, err
	}
	return graph.Float64s(out["probs"]), nil
}

// Save writes a checkpoint: parameters, solver, random source, the training data's order and
// position, and the history.
func (c *Classifier) Save(path string) error {
	extra := &graph.Extra{Blobs: map[string][]byte{}, Meta: map[string]string{"model": c.model.Name()}}
	if c.iter != nil {
		b, err := c.iter.MarshalBinary()
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		extra.Blobs["train_data"] = b
	} else if c.pending != nil {
		extra.Blobs["train_data"] = c.pending
	}
	run, err := json.Marshal(c.run)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	extra.Meta["run"] = string(run)
	extra.Meta["batch"] = strconv.Itoa(c.batch)
	return graph.SaveCheckpoint(path, c.ps, c.solver, extra)
}

// Load restores a checkpoint written by Save into the classifier; the next Fit continues the
// saved run.
func (c *Classifier) Load(path string) error {
	ck, err := graph.ReadCheckpoint(path)
	if err != nil {
		return err
	}
	if m := ck.Extra.Meta["model"]; m != c.model.Name() {
		return fmt.Errorf("checkpoint %s holds a %q model, not %q", path, m, c.model.Name())
	}
	if bs := ck.Extra.Meta["batch"]; bs != strconv.Itoa(c.batch) {
		return fmt.Errorf("checkpoint %s was trained with batch %s, this classifier uses %d", path, bs, c.batch)
	}
	var run runState
	if err := json.Unmarshal([]byte(ck.Extra.Meta["run"]), &run); err != nil {
		return fmt.Errorf("checkpoint %s: run state: %w", path, err)
	}
	if err := ck.Restore(c.ps, c.solver); err != nil {
		return err
	}
	c.run = run
	c.iter, c.iterSet, c.pending = nil, nil, ck.Extra.Blobs["train_data"]
	return nil
}

// FeatureMap is the activation of one convolution's channels for one image.
type FeatureMap struct {
	Name    string
	C, H, W int
	Values  []float64 // (C, H, W), row-major
}

// FeatureMaps runs one image x (1, C, H, W) through the model in evaluation mode and returns
// the activations after each convolution, in order. The model must be a *Net.
func (c *Classifier) FeatureMaps(x *tensor.Dense) ([]FeatureMap, error) {
	net, ok := c.model.(*Net)
	if !ok {
		return nil, fmt.Errorf("feature maps: %s is not a cnn.Net", c.model.Name())
	}
	ch, h, w := net.InputShape()
	if x == nil || !x.Shape().Eq(tensor.Shape{1, ch, h, w}) {
		return nil, fmt.Errorf("feature maps: want one image of shape (1, %d, %d, %d)", ch, h, w)
	}
	b := graph.NewBuilder(c.ps, graph.Eval)
	in, err := b.Input("x", 1, ch, h, w)
	if err != nil {
		return nil, err
	}
	_, maps, err := net.FeatureMaps(b, in)
	if err != nil {
		return nil, fmt.Errorf("feature maps: %w", err)
	}
	outs := map[string]*gorgonia.Node{}
	for _, m := range maps {
		outs[m.Name] = m.Node
	}
	prog, err := graph.Compile(b, outs)
	if err != nil {
		return nil, fmt.Errorf("feature maps: %w", err)
	}
	vals, err := prog.Run(graph.Feeds{"x": graph.Convert(x, c.ps.Dtype())})
	if err != nil {
		return nil, fmt.Errorf("feature maps: %w", err)
	}
	res := make([]FeatureMap, len(maps))
	for i, m := range maps {
		s := m.Node.Shape()
		res[i] = FeatureMap{Name: m.Name, C: s[1], H: s[2], W: s[3], Values: graph.Float64s(vals[m.Name])}
	}
	return res, nil
}
