package graph

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/dist"
	"github.com/unroll-ml/unroll/solvers"
)

// Trainer runs training steps on one compiled graph: feed, forward, symbolic gradients of the
// loss with respect to every trainable parameter the graph binds, optional global-norm clipping
// (solvers.ClipToNorm), and the solver's update. A step whose loss or gradients are not
// finite is refused: it returns an error naming the step (wrapping ErrNotFinite) and leaves
// parameters, buffers, carried state and the solver exactly as they were.
type Trainer struct {
	prog   *Program
	solver solvers.Solver
	clip   float64
	group  dist.Group // data parallel: gradients and buffers are averaged over its ranks
	params []solvers.Param
}

// StepResult is what one training step measured.
type StepResult struct {
	Step     int     // the solver's update count after this step
	Loss     float64 // the loss before the update
	GradNorm float64 // global L2 norm of the gradients before clipping
	Outputs  Outputs // the extra outputs asked for with WithOutputs
}

// TrainOption configures NewTrainer: WithOutputs, or any CompileOption (WithVM).
type TrainOption interface{ applyTrain(*trainConfig) }

type trainConfig struct {
	compileConfig
	outputs map[string]*gorgonia.Node
}

type trainFunc func(*trainConfig)

func (f trainFunc) applyTrain(c *trainConfig) { f(c) }

// WithOutputs asks every step to return these nodes' values too (logits, a final state).
func WithOutputs(outputs map[string]*gorgonia.Node) TrainOption {
	return trainFunc(func(c *trainConfig) { c.outputs = outputs })
}

// NewTrainer compiles b with the gradient of loss (a scalar node of b) and returns a trainer
// that updates the bound parameters with s (which may be nil until SetSolver). Clipping is off
// until SetClip. The one training loop, Fit, drives trainers through the models; a program of
// its own can call Step directly.
func NewTrainer(b *Builder, loss *gorgonia.Node, s solvers.Solver, opts ...TrainOption) (*Trainer, error) {
	cfg := trainConfig{compileConfig: compileConfig{vm: defaultVM}}
	for _, o := range opts {
		if o != nil {
			o.applyTrain(&cfg)
		}
	}
	if loss == nil {
		return nil, fmt.Errorf("graph: trainer needs a loss node")
	}
	prog, err := compile(b, cfg.outputs, loss, nil, cfg.compileConfig)
	if err != nil {
		return nil, err
	}
	t := &Trainer{prog: prog, solver: s}
	for _, g := range prog.grads {
		t.params = append(t.params, solvers.Param{Name: g.name, Value: g.param.Value, Grad: g.value})
	}
	return t, nil
}

// Program is the compiled graph: its carried state, inputs and outputs.
func (t *Trainer) Program() *Program { return t.prog }

// Solver is the trainer's solver.
func (t *Trainer) Solver() solvers.Solver { return t.solver }

// SetSolver makes the next steps update the parameters with s.
func (t *Trainer) SetSolver(s solvers.Solver) { t.solver = s }

// SetGroup makes the next steps data-parallel over g (see DataParallel): the loss, the
// gradients and the buffers are averaged over its ranks; nil or a group of one is a
// single-process step.
func (t *Trainer) SetGroup(g dist.Group) { t.group = g }

// SetClip makes the next steps rescale the gradients so that their global L2 norm is at most
// max (PyTorch's clip_grad_norm_; solvers.ClipToNorm); 0 turns clipping off.
func (t *Trainer) SetClip(max float64) error {
	if max < 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		return fmt.Errorf("graph: clip norm %v must be a positive finite number (or 0 for none)", max)
	}
	t.clip = max
	return nil
}

// Step runs one training step on feeds.
func (t *Trainer) Step(feeds Feeds) (*StepResult, error) {
	if t.solver == nil {
		return nil, fmt.Errorf("graph: the trainer has no solver (SetSolver)")
	}
	step := t.solver.Steps() + 1
	r, norm, err := t.forwardBackward(feeds, step)
	if err != nil {
		return nil, err
	}
	if t.clip > 0 {
		if err := solvers.ClipToNorm(t.grads(), norm, t.clip); err != nil {
			return nil, fmt.Errorf("graph: step %d: %w", step, err)
		}
	}
	if err := t.solver.Step(t.params); err != nil {
		return nil, fmt.Errorf("graph: step %d: %w", step, err)
	}
	t.prog.commit(r)
	if err := t.averageBuffers(); err != nil {
		return nil, fmt.Errorf("graph: step %d: %w", step, err)
	}
	return &StepResult{Step: t.solver.Steps(), Loss: r.loss, GradNorm: norm, Outputs: r.outputs}, nil
}

// averageBuffers averages the buffers the step updated (BatchNorm's running statistics) over
// the ranks of a data-parallel step.
func (t *Trainer) averageBuffers() error {
	if t.group == nil || t.group.Size() == 1 || len(t.prog.b.buffers) == 0 {
		return nil
	}
	var bufs []*tensor.Dense
	for _, u := range t.prog.b.buffers {
		bufs = append(bufs, t.prog.b.ps.Value(u.name))
	}
	if err := allReduceMean(t.group, bufs); err != nil {
		return fmt.Errorf("data parallel: buffers: %w", err)
	}
	return nil
}

// Gradients runs forward and backward on feeds without updating anything (no solver step, no
// carried state, no buffer update) and returns the loss and a copy of each parameter's
// gradient, unclipped.
func (t *Trainer) Gradients(feeds Feeds) (float64, map[string]*tensor.Dense, error) {
	step := 1
	if t.solver != nil {
		step = t.solver.Steps() + 1
	}
	r, _, err := t.forwardBackward(feeds, step)
	if err != nil {
		return 0, nil, err
	}
	out := make(map[string]*tensor.Dense, len(t.params))
	for _, p := range t.params {
		out[p.Name] = p.Grad.Clone().(*tensor.Dense)
	}
	return r.loss, out, nil
}

func (t *Trainer) forwardBackward(feeds Feeds, step int) (*result, float64, error) {
	r, err := t.prog.run(feeds, t.prog.outputs)
	if err != nil {
		return nil, 0, fmt.Errorf("graph: step %d: %w", step, err)
	}
	if t.group != nil && t.group.Size() > 1 {
		// Averaged before any check, so that every rank sees the same values and takes the
		// same branch (a NaN anywhere reaches every rank).
		// The loss rides in the first bucket, with the gradients.
		loss := NewTensor(t.params[0].Grad.Dtype(), []int{1}, []float64{r.loss})
		err = allReduceMean(t.group, append([]*tensor.Dense{loss}, t.grads()...))
		r.loss = Float64s(loss)[0]
		if err != nil {
			return nil, 0, fmt.Errorf("graph: step %d: data parallel: %w", step, err)
		}
	}
	if math.IsNaN(r.loss) || math.IsInf(r.loss, 0) {
		return nil, 0, &notFiniteError{step, fmt.Sprintf("the loss is %v", r.loss)}
	}
	for _, p := range t.params {
		if i := firstNonFinite(p.Grad); i >= 0 {
			return nil, 0, &notFiniteError{step, fmt.Sprintf("the gradient of %s is not finite at element %d", p.Name, i)}
		}
	}
	norm, err := solvers.GlobalNorm(t.grads())
	if err != nil {
		return nil, 0, fmt.Errorf("graph: step %d: %w", step, err)
	}
	return r, norm, nil
}

// ErrNotFinite is what the error of a refused training step wraps: its loss or a gradient was
// NaN or infinite, usually because training diverged. Test for it with errors.Is.
var ErrNotFinite = errors.New("loss or gradient not finite")

// notFiniteError is the error of a refused step: its number and what was not finite. It
// unwraps to ErrNotFinite.
type notFiniteError struct {
	step int
	what string
}

func (e *notFiniteError) Error() string {
	return fmt.Sprintf("graph: step %d: %s; parameters left unchanged (try a lower learning rate or gradient clipping)", e.step, e.what)
}
func (e *notFiniteError) Unwrap() error { return ErrNotFinite }

func (t *Trainer) grads() []*tensor.Dense {
	out := make([]*tensor.Dense, len(t.params))
	for i, p := range t.params {
		out[i] = p.Grad
	}
	return out
}
