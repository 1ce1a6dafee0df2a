// Package solvers updates parameters from their gradients: SGD (with momentum and Nesterov),
// Adam, AdamW, RMSProp and AdaGrad, global-norm gradient clipping and learning-rate schedules.
//
// A solver keeps its state (moments, step count) keyed by parameter name, never by position, so
// the order in which parameters are passed to Step does not matter and the state can be written
// to a checkpoint and read back (State, SetState). Solvers work in place on float32 or float64
// tensors and know nothing about graphs: package graph feeds them the gradients it computed.
//
// Constructors and options cannot fail. A setting out of range is reported by Step, which also
// checks every parameter before it changes anything, and names the solver and the value:
// "adam: learning rate -0.1 is negative". A schedule (WithSchedule) is evaluated at the
// solver's own update count, Steps, so the position in the schedule is part of the state that
// State and SetState carry.
//
// The update rules are PyTorch's (torch.optim), computed in the parameters' dtype with the same
// operations in the same order; results agree with PyTorch's to a few units in the last place
// (PyTorch's CPU kernels fuse multiply-adds). Gradient clipping lives here too: ClipGlobalNorm.
package solvers

import (
	"gorgonia.org/tensor"
)

// Param is one named trainable parameter with its gradient. Value and Grad have the same shape
// and dtype (float32 or float64); Step changes Value in place and leaves Grad as it was.
type Param struct {
	Name  string
	Value *tensor.Dense
	Grad  *tensor.Dense
}

// Solver updates parameters in place from their gradients.
type Solver interface {
	// Step applies one update to every parameter and then advances the step count by one.
	// It returns an error, and changes nothing, when a parameter and its gradient differ in
	// shape or dtype or the solver's settings are invalid (a learning rate that is negative or
	// not finite).
	Step(params []Param) error
	// LR is the learning rate the next Step will use (the base rate through the schedule).
	LR() float64
	// Steps is the number of updates applied so far; schedules are evaluated at this count.
	Steps() int
	// State returns a copy of the solver's state for a checkpoint: the step count under
	// "step" (a one-element float64 tensor) and each per-parameter buffer under
	// "<buffer>/<parameter name>", e.g. "exp_avg/conv1.weight".
	State() map[string]*tensor.Dense
	// SetState restores what State returned. Buffers are copied, not aliased. A missing step
	// count or a malformed entry is an error that names the key.
	SetState(state map[string]*tensor.Dense) error
}

// Schedule gives the learning rate for an update count, from the solver's base rate.
type Schedule interface {
	LR(base float64, step int) float64
}
