package graph

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/unroll-ml/unroll/dist"
	"github.com/unroll-ml/unroll/solvers"
)

// Data is what Fit trains on: batches of type B, served in passes (epochs). Package data's
// iterators have this shape (their Pass methods return their own pass types, which a model
// wraps); graph does not import data.
type Data[B any] interface {
	// Pass returns the current pass when it has batches left, and otherwise starts the next
	// pass (the next epoch) and returns it.
	Pass() Pass[B]
	// NumBatches is the number of batches of a pass.
	NumBatches() int
}

// Pass is one pass over a Data: Next returns its batches, then false for good.
type Pass[B any] interface {
	Next() (B, bool)
}

// Learner is a model as the training loop drives it: every model of unroll is one, and a
// custom model that implements it trains with Fit.
type Learner[B any] interface {
	// Params is the parameter set the model trains.
	Params() *Params
	// TrainBatch trains on one batch with the solver and the clipping of cfg: one solver
	// update, or one per segment of a long sequence (truncated backpropagation through time).
	TrainBatch(batch B, cfg *FitConfig) (BatchStats, error)
	// Validate scores the model on a validation set, the value Validation was given, in
	// evaluation mode.
	Validate(set any) (Metrics, error)
}

// BatchStats is what training on one batch measured.
type BatchStats struct {
	Loss     float64 // the batch's mean loss before the update
	Examples int     // examples (images, sequences, tokens) in the batch
	Correct  int     // examples classified right, for a classifier; -1 when it does not apply
	GradNorm float64 // the gradients' global norm before clipping (the largest over segments)
}

// Metrics is a model's score on a data set.
type Metrics struct {
	Loss        float64 `json:"loss"`
	Accuracy    float64 `json:"accuracy,omitempty"`
	HasAccuracy bool    `json:"has_accuracy,omitempty"`
	N           int     `json:"n"` // examples scored
}

// EpochStats are one completed epoch's figures.
type EpochStats struct {
	Epoch          int      `json:"epoch"` // from 1
	Steps          int      `json:"steps"` // batches trained on
	TrainLoss      float64  `json:"train_loss"`
	TrainAccuracy  float64  `json:"train_accuracy,omitempty"` // for classifiers
	Validation     *Metrics `json:"validation,omitempty"`
	Seconds        float64  `json:"seconds"`
	ExamplesPerSec float64  `json:"examples_per_second"`
}

// History is what training measured, one entry per completed epoch, across resumes.
type History struct {
	Epochs []EpochStats `json:"epochs"`
}

// Last returns the last completed epoch's figures, or nil.
func (h *History) Last() *EpochStats {
	if h == nil || len(h.Epochs) == 0 {
		return nil
	}
	return &h.Epochs[len(h.Epochs)-1]
}

// Progress describes the training step just taken.
type Progress struct {
	Step          int // batches trained on in all, across resumes, from 1
	Epoch         int // the current epoch, from 1
	StepInEpoch   int // from 1
	StepsPerEpoch int
	Loss          float64
	Examples      int // examples trained on in this call of Fit
	Elapsed       time.Duration
}

// FitConfig is what the fit options set. Learners read the fields that concern them.
type FitConfig struct {
	// Epochs is the number of epochs to run in this call, counting the one a resumed run is
	// in the middle of (default 1 unless Steps is set).
	Epochs int
	// Steps stops after this many batches in this call, even in mid-epoch (0: no limit).
	Steps int
	// Batch is the training batch size (0: the model's default).
	Batch int
	// Segment is the number of time steps of a truncated-BPTT segment (0: the whole sequence).
	Segment int
	// Solver updates the parameters. When no option sets it, Fit sets it to the solver of the
	// run's previous Fit, so that a learner always finds it here.
	Solver solvers.Solver
	// Clip is the gradients' largest global L2 norm (0: no clipping).
	Clip float64
	// Schedule, when not nil, sets the solver's learning-rate schedule.
	Schedule solvers.Schedule
	// Validation is scored after every epoch (a set of the model's kind).
	Validation any
	// OnStep and OnEpoch are called after every batch and every epoch.
	OnStep  func(Progress)
	OnEpoch func(EpochStats)
	// CheckpointPath, when set, receives a checkpoint after every CheckpointEvery batches (0:
	// at the end of every epoch) and at the end of the call.
	CheckpointPath  string
	CheckpointEvery int
	// Patience stops training when the validation loss has not improved for this many
	// epochs (0: never).
	Patience int
	// Group is the process group of a data-parallel run (DataParallel; nil: one process).
	Group dist.Group
}

// FitOption configures Fit; every model's Fit takes these same options.
type FitOption func(*FitConfig)

// Epochs runs n epochs in this call (a resumed run in mid-epoch finishes that epoch first, and
// it counts as one).
func Epochs(n int) FitOption { return func(c *FitConfig) { c.Epochs = n } }

// Steps stops after n batches in this call, even in mid-epoch; a later call continues there.
func Steps(n int) FitOption { return func(c *FitConfig) { c.Steps = n } }

// Batch sets the training batch size.
func Batch(n int) FitOption { return func(c *FitConfig) { c.Batch = n } }

// Segment trains recurrent models by truncated backpropagation through time over segments of
// k steps (see package models/rnn); 0 is the whole sequence.
func Segment(k int) FitOption { return func(c *FitConfig) { c.Segment = k } }

// Solver sets the solver; a model keeps it for later calls and for its checkpoints.
func Solver(s solvers.Solver) FitOption { return func(c *FitConfig) { c.Solver = s } }

// ClipNorm rescales the gradients so that their global L2 norm is at most max (PyTorch's
// clip_grad_norm_).
func ClipNorm(max float64) FitOption { return func(c *FitConfig) { c.Clip = max } }

// Schedule sets the solver's learning-rate schedule (solvers.WithSchedule).
func Schedule(s solvers.Schedule) FitOption { return func(c *FitConfig) { c.Schedule = s } }

// Validation scores set after every epoch: an image set for a classifier, a sequence set for a
// recurrent net, a text for a language model.
func Validation(set any) FitOption { return func(c *FitConfig) { c.Validation = set } }

// OnStep calls f after every batch.
func OnStep(f func(Progress)) FitOption { return func(c *FitConfig) { c.OnStep = f } }

// OnEpoch calls f after every epoch, with its figures.
func OnEpoch(f func(EpochStats)) FitOption { return func(c *FitConfig) { c.OnEpoch = f } }

// Checkpoints writes a checkpoint to path after every `every` batches (0: at the end of every
// epoch) and at the end of the call, atomically: path always holds the last one.
func Checkpoints(path string, every int) FitOption {
	return func(c *FitConfig) { c.CheckpointPath, c.CheckpointEvery = path, every }
}

// EarlyStopping stops training when the validation loss has not improved for patience epochs.
func EarlyStopping(patience int) FitOption { return func(c *FitConfig) { c.Patience = patience } }

// NewFitConfig applies opts to the defaults and checks the result.
func NewFitConfig(opts ...FitOption) (*FitConfig, error) {
	cfg := &FitConfig{}
	for _, o := range opts {
		if o != nil {
			o(cfg)
		}
	}
	if cfg.Epochs == 0 && cfg.Steps == 0 {
		cfg.Epochs = 1
	}
	switch {
	case cfg.Epochs < 0:
		return nil, fmt.Errorf("fit: %d epochs: need at least 1", cfg.Epochs)
	case cfg.Steps < 0:
		return nil, fmt.Errorf("fit: %d steps: need at least 1 (or 0 for no limit)", cfg.Steps)
	case cfg.Batch < 0:
		return nil, fmt.Errorf("fit: batch size %d: need at least 1", cfg.Batch)
	case cfg.Segment < 0:
		return nil, fmt.Errorf("fit: segment of %d steps: need at least 1 (or 0 for the whole sequence)", cfg.Segment)
	case cfg.Clip < 0 || math.IsNaN(cfg.Clip) || math.IsInf(cfg.Clip, 0):
		return nil, fmt.Errorf("fit: clip norm %v must be a positive finite number (or 0 for none)", cfg.Clip)
	case cfg.CheckpointEvery < 0:
		return nil, fmt.Errorf("fit: checkpoint every %d batches: need at least 1 (or 0 for every epoch)", cfg.CheckpointEvery)
	case cfg.Patience < 0:
		return nil, fmt.Errorf("fit: patience of %d epochs must not be negative", cfg.Patience)
	case cfg.Patience > 0 && cfg.Validation == nil:
		return nil, fmt.Errorf("fit: early stopping needs a validation set (Validation)")
	}
	return cfg, nil
}

// Fit is unroll's one training loop: it trains l on data, pass after pass, for the epochs or
// steps cfg asks, scoring the validation set after every epoch and writing checkpoints, and
// records everything in run, so that a run resumed from a checkpoint continues exactly where
// it stopped. It returns the history of every completed epoch, across resumes.
//
// A model's own Fit method builds its learner and data and calls this; run belongs to the model
// (see Run). The solver comes from cfg, or is the run's; a solver state loaded from a
// checkpoint is restored into it first (its type must be the one saved).
func Fit[B any](l Learner[B], run *Run, data Data[B], cfg *FitConfig) (*History, error) {
	if err := run.begin(l.Params(), data, cfg); err != nil {
		return &run.state.History, err
	}
	per := data.NumBatches()
	if per == 0 {
		return &run.state.History, fmt.Errorf("fit: the training data has no batch (too few examples for a batch of the size asked?)")
	}
	if m := &run.state.Monitor; m.Norm == 0 {
		m.Norm = paramNorm(l.Params()) // the first batch's update is measured against it
	}
	f := &fitting[B]{l: l, run: run, data: data, cfg: cfg, per: per, start: time.Now()}
	return f.loop()
}

// fitting is one call of Fit.
type fitting[B any] struct {
	l        Learner[B]
	run      *Run
	data     Data[B]
	cfg      *FitConfig
	per      int
	start    time.Time
	steps    int // batches trained on in this call
	epochs   int // epochs completed in this call
	examples int
}

func (f *fitting[B]) loop() (*History, error) {
	run := f.run
	for !f.done() {
		stop, err := f.epoch()
		if err != nil {
			return &run.state.History, err
		}
		if stop {
			break
		}
	}
	if f.cfg.CheckpointPath != "" {
		if err := run.save(f.cfg.CheckpointPath, f.l.Params()); err != nil {
			return &run.state.History, err
		}
	}
	return &run.state.History, nil
}

// done reports whether the call has run what it was asked to.
func (f *fitting[B]) done() bool {
	return (f.cfg.Steps > 0 && f.steps >= f.cfg.Steps) || (f.cfg.Epochs > 0 && f.epochs >= f.cfg.Epochs)
}

// epoch trains on the rest of the current pass (or on part of it, when Steps runs out) and,
// when the pass ends, closes the epoch. stop reports early stopping.
func (f *fitting[B]) epoch() (stop bool, err error) {
	run, st := f.run, &f.run.state
	pass := f.data.Pass()
	f.per = f.data.NumBatches()
	begun := time.Now()
	// The pass ends when Next says so, or as soon as its last batch is trained on, so that a
	// call that stops there (Steps) closes the epoch as an uninterrupted run does.
	for st.Partial.Steps < f.per {
		if f.cfg.Steps > 0 && f.steps >= f.cfg.Steps {
			st.Partial.Seconds += time.Since(begun).Seconds()
			return false, nil
		}
		batch, ok := pass.Next()
		if !ok {
			break
		}
		bs, err := f.l.TrainBatch(batch, f.cfg)
		if errors.Is(err, ErrNotFinite) {
			err = diverged(st.Step+1, math.NaN(), "", err)
		}
		if err == nil {
			err = st.Monitor.check(st.Step+1, bs.Loss, f.l.Params())
		}
		if err != nil {
			st.Partial.Seconds += time.Since(begun).Seconds()
			return false, fmt.Errorf("fit: epoch %d: %w", st.Epoch+1, err)
		}
		f.record(bs)
		if f.cfg.CheckpointPath != "" && f.cfg.CheckpointEvery > 0 && st.Step%f.cfg.CheckpointEvery == 0 {
			if err := run.save(f.cfg.CheckpointPath, f.l.Params()); err != nil {
				return false, err
			}
		}
	}
	st.Partial.Seconds += time.Since(begun).Seconds()
	es, err := f.closeEpoch()
	if err != nil {
		return false, err
	}
	if f.cfg.OnEpoch != nil {
		f.cfg.OnEpoch(es)
	}
	if f.cfg.CheckpointPath != "" && f.cfg.CheckpointEvery == 0 {
		if err := run.save(f.cfg.CheckpointPath, f.l.Params()); err != nil {
			return false, err
		}
	}
	return f.cfg.Patience > 0 && st.BadEpochs >= f.cfg.Patience, nil
}

// record adds a batch's figures to the run and reports progress.
func (f *fitting[B]) record(bs BatchStats) {
	st := &f.run.state
	st.Step++
	f.steps++
	p := &st.Partial
	p.Steps++
	p.Loss += bs.Loss
	p.Examples += bs.Examples
	if bs.Correct >= 0 {
		p.Correct += bs.Correct
		p.Classified += bs.Examples
	}
	f.examples += bs.Examples
	if f.cfg.OnStep != nil {
		f.cfg.OnStep(Progress{Step: st.Step, Epoch: st.Epoch + 1, StepInEpoch: p.Steps, StepsPerEpoch: f.per,
			Loss: bs.Loss, Examples: f.examples, Elapsed: time.Since(f.start)})
	}
}

// closeEpoch turns the partial sums into the epoch's figures, scores the validation set and
// keeps the early-stopping count.
func (f *fitting[B]) closeEpoch() (EpochStats, error) {
	st := &f.run.state
	p := st.Partial
	st.Epoch++
	f.epochs++
	es := EpochStats{Epoch: st.Epoch, Steps: p.Steps, Seconds: p.Seconds}
	if p.Steps > 0 {
		es.TrainLoss = p.Loss / float64(p.Steps)
	}
	if p.Classified > 0 {
		es.TrainAccuracy = float64(p.Correct) / float64(p.Classified)
	}
	if p.Seconds > 0 {
		es.ExamplesPerSec = float64(p.Examples) / p.Seconds
	}
	st.Partial = partialEpoch{}
	if f.cfg.Validation != nil {
		m, err := f.l.Validate(f.cfg.Validation)
		if err != nil {
			return es, fmt.Errorf("fit: epoch %d: validation: %w", st.Epoch, err)
		}
		es.Validation = &m
		if st.BestLoss == nil || m.Loss < *st.BestLoss {
			best := m.Loss
			st.BestLoss, st.BadEpochs = &best, 0
		} else {
			st.BadEpochs++
		}
	}
	st.History.Epochs = append(st.History.Epochs, es)
	return es, nil
}

// data positions are saved with checkpoints when the data can say where it is.
type positioned interface {
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}
