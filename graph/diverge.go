package graph

import (
	"errors"
	"fmt"
	"math"
)

// ErrDiverged is what Fit's error wraps when training diverged: a loss or gradient that is
// not finite (ErrNotFinite, which it also wraps then), a loss far above its running level, a
// jump of the parameters' norm, or parameters or solver state that are not finite. Fit writes
// no checkpoint from a diverged state, so the last one written is the last good one; the
// parameters in memory are left as the diverged step made them (a refused step, one whose loss
// or gradient was not finite, changed nothing), so load that checkpoint to go on. Test for it
// with errors.Is; errors.As with a *DivergedError gives the step and the reason.
var ErrDiverged = errors.New("training diverged")

// The thresholds of divergence. A loss more than lossJump times the larger of its running mean
// and the run's first loss, or a parameter norm more than normJump times the one before the
// batch, is divergence: ordinary training moves both by far less (a hard batch may double the
// loss; a learning rate a million times too large multiplies it by 1e30).
const (
	lossJump    = 1e3
	normJump    = 1e3
	lossWarmup  = 5    // batches before the loss's running mean is trusted
	lossSmooth  = 0.05 // weight of a new loss in the running mean
	hintDiverge = "lower the learning rate or clip the gradients (graph.ClipNorm)"
)

// DivergedError is the error of a diverged step, what Fit's error wraps when training
// diverged: get it with errors.As to phrase the failure your own way. It unwraps to
// ErrDiverged and, for a loss or gradient that is not finite, to the trainer's error too.
type DivergedError struct {
	Step   int     // the step that diverged, counted from the run's start (1 is the first)
	Loss   float64 // its loss, NaN when not known or not finite
	Reason string  // what was seen, such as "the parameters' norm jumped from 8.9 to 2.2e+32 in one step"
	cause  error
}

// Error says which step diverged, why, and what to change.
func (e *DivergedError) Error() string {
	at := fmt.Sprintf("step %d", e.Step)
	if !math.IsNaN(e.Loss) {
		at = fmt.Sprintf("step %d (loss %.4g)", e.Step, e.Loss)
	}
	return fmt.Sprintf("training diverged at %s: %s; %s", at, e.Reason, hintDiverge)
}

// Unwrap returns ErrDiverged and the cause, if any.
func (e *DivergedError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrDiverged, e.cause}
	}
	return []error{ErrDiverged}
}

// monitor is what the divergence checks remember, saved with the run.
type monitor struct {
	FirstLoss float64 `json:"first_loss,omitempty"`
	LossMean  float64 `json:"loss_mean,omitempty"`
	Batches   int     `json:"batches,omitempty"`
	Norm      float64 `json:"param_norm,omitempty"`
}

// check looks at one batch's loss and the parameters after it; it returns a diverged error
// naming the step, or nil, and updates the running figures.
func (m *monitor) check(step int, loss float64, ps *Params) error {
	norm := paramNorm(ps)
	switch {
	case math.IsNaN(norm) || math.IsInf(norm, 0):
		return diverged(step, loss, "the parameters are not finite", nil)
	case m.Norm > 0 && norm > normJump*m.Norm:
		return diverged(step, loss, fmt.Sprintf("the parameters' norm jumped from %.3g to %.3g in one step", m.Norm, norm), nil)
	case m.Batches >= lossWarmup && math.Abs(loss) > lossJump*math.Max(math.Abs(m.LossMean), math.Abs(m.FirstLoss)):
		return diverged(step, loss, fmt.Sprintf("the loss is %.3g times its running level %.3g", math.Abs(loss)/math.Max(math.Abs(m.LossMean), math.Abs(m.FirstLoss)), m.LossMean), nil)
	}
	if m.Batches == 0 {
		m.FirstLoss, m.LossMean = loss, loss
	} else {
		m.LossMean += lossSmooth * (loss - m.LossMean)
	}
	m.Batches++
	m.Norm = norm
	return nil
}

func diverged(step int, loss float64, why string, cause error) error {
	var nf *notFiniteError
	switch {
	case errors.As(cause, &nf):
		why = nf.what + "; the parameters were left unchanged"
	case cause != nil:
		why = cause.Error()
	}
	return &DivergedError{Step: step, Loss: loss, Reason: why, cause: cause}
}

// healthy reports, before a checkpoint is written, a parameter, buffer or solver state that is
// not finite: such a state is never saved.
func healthy(ps *Params, run *Run, step int) error {
	for _, e := range ps.Entries() {
		if i := firstNonFinite(e.Value); i >= 0 {
			return diverged(step, math.NaN(), fmt.Sprintf("%s holds %v at element %d", e.Name, Float64s(e.Value)[i], i), nil)
		}
	}
	if run.solver == nil {
		return nil
	}
	for k, v := range run.solver.State() {
		if i := firstNonFinite(v); i >= 0 {
			return diverged(step, math.NaN(), fmt.Sprintf("the solver's %s holds %v at element %d", k, Float64s(v)[i], i), nil)
		}
	}
	return nil
}

// paramNorm is the L2 norm of every trainable parameter taken as one vector.
func paramNorm(ps *Params) float64 {
	var s float64
	for _, e := range ps.Entries() {
		if !e.Trainable {
			continue
		}
		switch d := e.Value.Data().(type) {
		case []float32:
			for _, v := range d {
				s += float64(v) * float64(v)
			}
		case []float64:
			for _, v := range d {
				s += v * v
			}
		}
	}
	return math.Sqrt(s)
}
