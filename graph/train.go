package graph

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/solvers"
)

// Trainer runs training steps on one compiled graph: feed, forward, symbolic gradients of the
// loss with respect to every trainable parameter the graph binds, optional global-norm clipping
// (solvers.ClipGlobalNorm), and the solver's update. A step whose loss or gradients are not
// finite is refused: it returns an error naming the step (wrapping ErrNotFinite) and leaves
// parameters, buffers, carried state and the solver exactly as they were.
type Trainer struct {
	prog   *Program
	solver solvers.Solver
	clip   float64
	params []solvers.Param
}

// StepResult is what one training step measured.
type StepResult struct {
	Step     int     // the solver's update count after this step
	Loss     float64 // the loss before the update
	GradNorm float64 // global L2 norm of the gradients before clipping
	Outputs  Outputs // the extra outputs asked for with WithOutputs
}

// TrainOption configures NewTrainer: ClipNorm, WithOutputs, or any CompileOption (WithVM).
type TrainOption interface{ applyTrain(*trainConfig) }

type trainConfig struct {
	compileConfig
	clip    float64
	outputs map[string]*gorgonia.Node
}

type trainFunc func(*trainConfig)

func (f trainFunc) applyTrain(c *trainConfig) { f(c) }

// ClipNorm rescales the gradients so that their global L2 norm is at most max (PyTorch's
// clip_grad_norm_). Zero, the default, turns clipping off.
func ClipNorm(max float64) TrainOption { return trainFunc(func(c *trainConfig) { c.clip = max }) }

// WithOutputs asks every step to return these nodes' values too (logits, a final state).
func WithOutputs(outputs map[string]*gorgonia.Node) TrainOption {
	return trainFunc(func(c *trainConfig) { c.outputs = outputs })
}

// NewTrainer compiles b with the gradient of loss (a scalar node of b) and returns a trainer
// that updates the bound parameters with s.
func NewTrainer(b *Builder, loss *gorgonia.Node, s solvers.Solver, opts ...TrainOption) (*Trainer, error) {
	cfg := trainConfig{compileConfig: compileConfig{vm: defaultVM}}
	for _, o := range opts {
		if o != nil {
			o.applyTrain(&cfg)
		}
	}
	if s == nil {
		return nil, fmt.Errorf("graph: trainer needs a solver")
	}
	if cfg.clip < 0 || math.IsNaN(cfg.clip) || math.IsInf(cfg.clip, 0) {
		return nil, fmt.Errorf("graph: clip norm %v must be a positive finite number (or 0 for none)", cfg.clip)
	}
	if loss == nil {
		return nil, fmt.Errorf("graph: trainer needs a loss node")
	}
	prog, err := compile(b, cfg.outputs, loss, nil, cfg.compileConfig)
	if err != nil {
		return nil, err
	}
	t := &Trainer{prog: prog, solver: s, clip: cfg.clip}
	for _, g := range prog.grads {
		t.params = append(t.params, solvers.Param{Name: g.name, Value: g.param.Value, Grad: g.value})
	}
	return t, nil
}

// Program is the compiled graph: its carried state, inputs and outputs.
func (t *Trainer) Program() *Program { return t.prog }

// Solver is the trainer's solver.
func (t *Trainer) Solver() solvers.Solver { return t.solver }

// Step runs one training step on feeds.
func (t *Trainer) Step(feeds Feeds) (*StepResult, error) {
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
	return &StepResult{Step: t.solver.Steps(), Loss: r.loss, GradNorm: norm, Outputs: r.outputs}, nil
}

// Gradients runs forward and backward on feeds without updating anything (no solver step, no
// carried state, no buffer update) and returns the loss and a copy of each parameter's
// gradient, unclipped.
func (t *Trainer) Gradients(feeds Feeds) (float64, map[string]*tensor.Dense, error) {
	r, _, err := t.forwardBackward(feeds, t.solver.Steps()+1)
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
	if math.IsNaN(r.loss) || math.IsInf(r.loss, 0) {
		return nil, 0, notFiniteError(fmt.Sprintf("graph: step %d: loss is %v; parameters left unchanged (try a lower learning rate or gradient clipping)", step, r.loss))
	}
	for _, p := range t.params {
		if i := firstNonFinite(p.Grad); i >= 0 {
			return nil, 0, notFiniteError(fmt.Sprintf("graph: step %d: gradient of %s is not finite at element %d; parameters left unchanged (try a lower learning rate or gradient clipping)", step, p.Name, i))
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

// notFiniteError is the message of a refused step; it unwraps to ErrNotFinite.
type notFiniteError string

func (e notFiniteError) Error() string { return string(e) }
func (e notFiniteError) Unwrap() error { return ErrNotFinite }

func (t *Trainer) grads() []*tensor.Dense {
	out := make([]*tensor.Dense, len(t.params))
	for i, p := range t.params {
		out[i] = p.Grad
	}
	return out
}
