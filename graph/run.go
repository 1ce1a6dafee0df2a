package graph

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strconv"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/dist"
	"github.com/unroll-ml/unroll/solvers"
)

// Run is the state of a model's training run: the solver, the epochs and batches done, the
// sums over the current epoch, the history and the early-stopping count, and where the
// training data stood. Every trainable model holds one; Fit advances it, and the model's
// checkpoints save it and restore it, so that a resumed run continues exactly.
//
// A checkpoint restores the run at once but the solver's state and the data's position only
// when the next Fit starts, with the solver and data that Fit is given: their type and shape
// are checked then.
type Run struct {
	state  runState
	solver solvers.Solver
	data   positioned // the data of the last Fit, whose position checkpoints save
	extra  func() (*Extra, error)
	group  dist.Group // the process group of the last Fit, nil for one process

	pendingSolver     map[string]*tensor.Dense // loaded, for the next Fit's solver
	pendingSolverType string
	pendingFrom       string // the checkpoint they were loaded from
	pendingRanks      int    // the ranks that wrote it (0: none loaded)
	pendingNoise      map[int][]byte
	pendingData       []byte // loaded, for the next Fit's data
}

// runState is what a checkpoint records of a run, as JSON.
type runState struct {
	Epoch     int          `json:"epoch"` // completed epochs
	Step      int          `json:"step"`  // batches trained on
	Partial   partialEpoch `json:"partial"`
	History   History      `json:"history"`
	BestLoss  *float64     `json:"best_loss,omitempty"` // the best validation loss so far
	BadEpochs int          `json:"bad_epochs"`          // epochs since it improved
	Monitor   monitor      `json:"monitor"`             // the divergence checks' running figures
}

// partialEpoch sums the batches of the current, unfinished epoch.
type partialEpoch struct {
	Steps      int     `json:"steps"`
	Loss       float64 `json:"loss"`
	Examples   int     `json:"examples"`
	Correct    int     `json:"correct"`
	Classified int     `json:"classified"`
	Seconds    float64 `json:"seconds"`
}

// Solver is the run's solver: the one the last Fit used, nil before any.
func (r *Run) Solver() solvers.Solver { return r.solver }

// History is what training measured so far, across resumes.
func (r *Run) History() History { return r.state.History }

// Epochs is the number of completed epochs.
func (r *Run) Epochs() int { return r.state.Epoch }

// Steps is the number of batches trained on so far, across resumes.
func (r *Run) Steps() int { return r.state.Step }

// UseSolver makes s the run's solver and restores into it the solver state a checkpoint loaded,
// if any (then s must be of the type saved): what Fit does with its Solver option, for a
// program that drives a Trainer itself.
func (r *Run) UseSolver(s solvers.Solver) error {
	if s == nil {
		return fmt.Errorf("nil solver")
	}
	if r.pendingSolver != nil {
		if t := fmt.Sprintf("%T", s); t != r.pendingSolverType {
			return fmt.Errorf("checkpoint %s holds the state of a %s solver; this run's solver is %s", r.pendingFrom, r.pendingSolverType, t)
		}
		if err := s.SetState(r.pendingSolver); err != nil {
			return fmt.Errorf("checkpoint %s: solver state: %w", r.pendingFrom, err)
		}
		r.pendingSolver = nil
	}
	r.solver = s
	return nil
}

// SetExtra gives the run the function that returns what the model adds to its checkpoints
// (its configuration, a carried recurrent state), for the checkpoints Fit writes.
func (r *Run) SetExtra(f func() (*Extra, error)) { r.extra = f }

// begin prepares a call of Fit: the solver (with its schedule and any loaded state) and the
// data's position.
func (r *Run) begin(ps *Params, data any, cfg *FitConfig) error {
	if cfg == nil {
		return fmt.Errorf("fit: no configuration (NewFitConfig)")
	}
	if err := r.restoreRanks(cfg.Group, ps); err != nil {
		return fmt.Errorf("fit: %w", err)
	}
	if cfg.parallel() {
		if err := beginParallel(cfg.Group, ps); err != nil {
			return err
		}
	}
	r.group = cfg.Group
	if cfg.Solver != nil {
		if err := r.UseSolver(cfg.Solver); err != nil {
			return fmt.Errorf("fit: %w", err)
		}
	}
	if r.solver == nil {
		return fmt.Errorf("fit: no solver: pass graph.Solver(...)")
	}
	if r.pendingSolver != nil {
		if err := r.UseSolver(r.solver); err != nil {
			return fmt.Errorf("fit: %w", err)
		}
	}
	cfg.Solver = r.solver
	if cfg.Schedule != nil {
		sc, ok := r.solver.(interface{ SetSchedule(solvers.Schedule) })
		if !ok {
			return fmt.Errorf("fit: solver %T takes no schedule", r.solver)
		}
		sc.SetSchedule(cfg.Schedule)
	}
	pos, _ := data.(positioned)
	if r.pendingData != nil {
		if pos == nil {
			return fmt.Errorf("fit: the checkpoint holds a data position, and this data cannot take one")
		}
		if err := pos.UnmarshalBinary(r.pendingData); err != nil {
			return fmt.Errorf("fit: the checkpoint's data position does not fit this training data: %w", err)
		}
		r.pendingData = nil
	}
	r.data = pos
	if cfg.CheckpointPath != "" && pos == nil {
		return fmt.Errorf("fit: checkpoints need data that saves its position (MarshalBinary)")
	}
	return nil
}

// Checkpoint entries of a run.
const (
	runMetaKey  = "run"  // the run state, JSON
	runDataBlob = "data" // the training data's position
)

// save writes a checkpoint of ps, the run and the model's extra to path, when the state passes
// the divergence checks (healthy); otherwise the file keeps the last good checkpoint.
//
// In a data-parallel run every rank calls it: the ranks' own entries are gathered to rank 0,
// which alone writes the file.
func (r *Run) save(path string, ps *Params) error {
	if err := healthy(ps, r, r.state.Step); err != nil {
		return fmt.Errorf("checkpoint %s not written: %w", path, err)
	}
	var extra *Extra
	if r.extra != nil {
		var err error
		if extra, err = r.extra(); err != nil {
			return fmt.Errorf("checkpoint %s: %w", path, err)
		}
	}
	return SaveCheckpoint(path, ps, r, extra)
}

// saveRanks is SaveCheckpoint in a data-parallel run: the ranks' own entries are gathered to
// rank 0, which alone writes the file.
func (r *Run) saveRanks(path string, ps *Params, extra *Extra) error {
	full := &Extra{Tensors: map[string]*tensor.Dense{}, Blobs: map[string][]byte{}, Meta: map[string]string{}}
	if extra != nil {
		maps.Copy(full.Blobs, extra.Blobs)
		maps.Copy(full.Meta, extra.Meta)
	}
	if err := gatherRanks(r.group, ps, extra, full); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if r.group.Rank() != 0 {
		return nil
	}
	return writeCheckpoint(path, ps, r, full)
}

// addTo adds the run's entries to a checkpoint's extra (a copy).
func (r *Run) addTo(e *Extra) (*Extra, error) {
	out := &Extra{Tensors: map[string]*tensor.Dense{}, Blobs: map[string][]byte{}, Meta: map[string]string{}}
	if e != nil {
		maps.Copy(out.Tensors, e.Tensors)
		maps.Copy(out.Blobs, e.Blobs)
		maps.Copy(out.Meta, e.Meta)
	}
	for _, k := range []string{runMetaKey} {
		if _, taken := out.Meta[k]; taken {
			return nil, fmt.Errorf("extra meta %q is the run's", k)
		}
	}
	if _, taken := out.Blobs[runDataBlob]; taken {
		return nil, fmt.Errorf("extra blob %q is the run's", runDataBlob)
	}
	js, err := json.Marshal(r.state)
	if err != nil {
		return nil, err
	}
	out.Meta[runMetaKey] = string(js)
	switch {
	case r.data != nil:
		b, err := r.data.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("data position: %w", err)
		}
		out.Blobs[runDataBlob] = b
	case r.pendingData != nil:
		out.Blobs[runDataBlob] = r.pendingData
	}
	return out, nil
}

// restore sets the run from a checkpoint: its state now, the solver's state and the data's
// position for the next Fit. It removes the run's entries from extra.
func (r *Run) restore(c *Checkpoint) error {
	js, ok := c.Extra.Meta[runMetaKey]
	if !ok {
		return fmt.Errorf("checkpoint %s holds no training run (written without one: load it with LoadWeights)", c.Path)
	}
	var st runState
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		return fmt.Errorf("checkpoint %s: run state: %w", c.Path, err)
	}
	if err := st.check(); err != nil {
		return fmt.Errorf("checkpoint %s: run state: %w", c.Path, err)
	}
	r.state = st
	r.pendingSolver, r.pendingSolverType, r.pendingFrom = c.solverState(), c.Solver, c.Path
	r.pendingData = c.Extra.Blobs[runDataBlob]
	r.data = nil
	r.pendingRanks, r.pendingNoise = 1, nil
	if s, ok := c.Extra.Meta[ranksMeta]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 || n > 1<<16 {
			return fmt.Errorf("checkpoint %s: %d ranks", c.Path, n)
		}
		r.pendingRanks, r.pendingNoise = n, map[int][]byte{}
		for i := range n {
			b, ok := c.Extra.Blobs[fmt.Sprint(noisePrefix, i)]
			if !ok {
				return fmt.Errorf("checkpoint %s: rank %d's noise stream is missing", c.Path, i)
			}
			r.pendingNoise[i] = b
			delete(c.Extra.Blobs, fmt.Sprint(noisePrefix, i))
		}
		delete(c.Extra.Meta, ranksMeta)
	}
	delete(c.Extra.Meta, runMetaKey)
	delete(c.Extra.Blobs, runDataBlob)
	return nil
}

// check refuses a run state that no run could have: counts out of range or disagreeing with
// each other, figures that are not finite.
func (st *runState) check() error {
	p := st.Partial
	steps := p.Steps
	for i, e := range st.History.Epochs {
		if e.Epoch != i+1 || e.Steps < 0 || !finite(e.TrainLoss, e.TrainAccuracy, e.Seconds, e.ExamplesPerSec) {
			return fmt.Errorf("epoch %d of the history is out of range", i+1)
		}
		steps += e.Steps
	}
	switch {
	case st.Epoch < 0 || st.Epoch != len(st.History.Epochs):
		return fmt.Errorf("epoch %d with %d epochs of history", st.Epoch, len(st.History.Epochs))
	case st.Step < 0 || st.Step != steps:
		return fmt.Errorf("step %d, but the epochs add up to %d", st.Step, steps)
	case p.Steps < 0 || p.Examples < 0 || p.Correct < 0 || p.Classified < 0 || p.Correct > p.Classified || p.Seconds < 0 || !finite(p.Loss, p.Seconds):
		return fmt.Errorf("the current epoch's sums are out of range")
	case st.BadEpochs < 0 || st.BadEpochs > st.Epoch || (st.BestLoss != nil && !finite(*st.BestLoss)):
		return fmt.Errorf("the early-stopping count is out of range")
	case st.Monitor.Batches < 0 || !finite(st.Monitor.FirstLoss, st.Monitor.LossMean, st.Monitor.Norm):
		return fmt.Errorf("the divergence checks' figures are out of range")
	}
	return nil
}

// finite reports whether every value is neither NaN nor infinite.
func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
