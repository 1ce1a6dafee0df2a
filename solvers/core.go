package solvers

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"gorgonia.org/tensor"
)

// float is the element type of the tensors the solvers update.
type float interface{ ~float32 | ~float64 }

// core is what every solver shares: its settings, its update count and its per-parameter
// buffers. It implements LR, Steps, State and SetState, and the checks that open every Step.
type core struct {
	name    string   // the solver's name, first word of its errors
	lr      float64  // base learning rate
	set     settings // options
	buffers []string // names of the per-parameter buffers, as PyTorch names them
	err     error    // invalid settings, found by the constructor and returned by Step
	steps   int
	slots   map[string][]*tensor.Dense // parameter name -> one tensor per entry of buffers
	seen    map[string]bool            // reused by begin to find repeated names
}

func newCore(name string, lr float64, set settings, buffers ...string) core {
	return core{
		name:    name,
		lr:      lr,
		set:     set,
		buffers: buffers,
		slots:   map[string][]*tensor.Dense{},
		seen:    map[string]bool{},
	}
}

// LR is the learning rate the next Step will use: the base rate through the schedule.
func (c *core) LR() float64 {
	if c.set.schedule == nil {
		return c.lr
	}
	return c.set.schedule.LR(c.lr, c.steps)
}

// Steps is the number of updates applied so far.
func (c *core) Steps() int { return c.steps }

// SetSchedule replaces the learning-rate schedule (WithSchedule), evaluated at the solver's
// update count from the next Step; nil keeps the base rate.
func (c *core) SetSchedule(s Schedule) { c.set.schedule = s }

// checkSettings finds the first invalid setting common to all solvers: the learning rate, the
// schedule and options the solver does not take.
func (c *core) checkSettings(takes ...string) error {
	if err := c.nonNegative("learning rate", c.lr); err != nil {
		return err
	}
	for _, name := range c.set.given {
		if !slices.Contains(takes, name) {
			return c.errorf("option %s does not apply", name)
		}
	}
	if ch, ok := c.set.schedule.(interface{ check() error }); ok {
		if err := ch.check(); err != nil {
			return c.errorf("%w", err)
		}
	}
	return c.nonNegative("weight decay", c.set.weightDecay)
}

// errorf returns an error whose message starts with the solver's name.
func (c *core) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", c.name, fmt.Errorf(format, args...))
}

// nonNegative reports a setting that is not a finite number >= 0.
func (c *core) nonNegative(what string, x float64) error {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return c.errorf("%s %v is not finite", what, x)
	case x < 0:
		return c.errorf("%s %v is negative", what, x)
	}
	return nil
}

// positive reports a setting that is not a finite number > 0.
func (c *core) positive(what string, x float64) error {
	if err := c.nonNegative(what, x); err != nil {
		return err
	}
	if x == 0 {
		return c.errorf("%s %v is not positive", what, x)
	}
	return nil
}

// fraction reports a setting outside [0, 1), or [0, 1] when closed is true.
func (c *core) fraction(what string, x float64, closed bool) error {
	if closed && !(x >= 0 && x <= 1) {
		return c.errorf("%s %v is outside [0, 1]", what, x)
	}
	if !closed && !(x >= 0 && x < 1) {
		return c.errorf("%s %v is outside [0, 1)", what, x)
	}
	return nil
}

// step is the Step of every solver: it checks everything (begin), applies update to each
// parameter with the learning rate of this step, its buffers and whether they were just made,
// and counts the step.
func (c *core) step(params []Param, update func(lr float64, p Param, bufs []*tensor.Dense, first bool)) error {
	lr, err := c.begin(params)
	if err != nil {
		return err
	}
	for _, p := range params {
		bufs, first := c.buffersOf(p)
		update(lr, p, bufs, first)
	}
	c.steps++
	return nil
}

// begin opens a Step: it checks the settings, every parameter and its buffers, and the
// learning rate, all before anything changes, and returns the learning rate of this update.
func (c *core) begin(params []Param) (float64, error) {
	if c.err != nil {
		return 0, c.err
	}
	clear(c.seen)
	for i, p := range params {
		if p.Name == "" {
			return 0, c.errorf("parameter %d has no name", i)
		}
		if c.seen[p.Name] {
			return 0, c.errorf("parameter %q is given twice", p.Name)
		}
		c.seen[p.Name] = true
		if err := checkParam(p); err != nil {
			return 0, c.errorf("parameter %q: %w", p.Name, err)
		}
		for i, b := range c.slots[p.Name] {
			if b.Dtype() != p.Value.Dtype() || !sameShape(b.Shape(), p.Value.Shape()) {
				return 0, c.errorf("parameter %q is %s %v but its state %s is %s %v",
					p.Name, p.Value.Dtype(), p.Value.Shape(), c.buffers[i], b.Dtype(), b.Shape())
			}
		}
	}
	lr := c.LR()
	if math.IsNaN(lr) || math.IsInf(lr, 0) || lr < 0 {
		return 0, c.errorf("schedule gives learning rate %v at step %d", lr, c.steps)
	}
	return lr, nil
}

// buffersOf returns the buffers of parameter p, allocating zeroed ones on first sight of its
// name; first reports that they were just made.
func (c *core) buffersOf(p Param) (bufs []*tensor.Dense, first bool) {
	if bufs, ok := c.slots[p.Name]; ok {
		return bufs, false
	}
	bufs = make([]*tensor.Dense, len(c.buffers))
	for i := range bufs {
		bufs[i] = zeros(p.Value.Dtype(), p.Value.Shape())
	}
	c.slots[p.Name] = bufs
	return bufs, true
}

// State returns a copy of the update count, under "step", and of every buffer, under
// "<buffer>/<parameter name>".
func (c *core) State() map[string]*tensor.Dense {
	st := map[string]*tensor.Dense{
		"step": tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{float64(c.steps)})),
	}
	for name, bufs := range c.slots {
		for i, b := range bufs {
			st[c.buffers[i]+"/"+name] = clone(b)
		}
	}
	return st
}

// SetState replaces the solver's state with a copy of st, as State returned it. Nothing changes
// when st is malformed: a missing or bad step count, an unknown key, a tensor that is nil, of
// another dtype than float32 or float64, or a parameter whose buffers are incomplete or differ
// in shape or dtype. Whether the buffers fit the parameters is checked by the next Step.
func (c *core) SetState(st map[string]*tensor.Dense) error {
	step, ok := st["step"]
	if !ok || step == nil {
		return c.errorf("state %q is missing", "step")
	}
	if step.Dtype() != tensor.Float64 || step.Shape().TotalSize() != 1 || len(step.Float64s()) != 1 {
		return c.errorf("state %q is %s %v, want a one-element float64 tensor",
			"step", dtypeName(step.Dtype()), step.Shape())
	}
	n := step.Float64s()[0]
	if !(n >= 0 && n <= 1<<53 && n == math.Trunc(n)) {
		return c.errorf("state %q holds %v, not an update count", "step", n)
	}
	slots := map[string][]*tensor.Dense{}
	for _, key := range slices.Sorted(maps.Keys(st)) {
		if key == "step" {
			continue
		}
		buf, name, _ := strings.Cut(key, "/")
		i := slices.Index(c.buffers, buf)
		if i < 0 || name == "" {
			return c.errorf("unknown state key %q", key)
		}
		t := st[key]
		if err := checkTensor(t); err != nil {
			return c.errorf("state %q: %w", key, err)
		}
		if slots[name] == nil {
			slots[name] = make([]*tensor.Dense, len(c.buffers))
		}
		slots[name][i] = clone(t)
	}
	for _, name := range slices.Sorted(maps.Keys(slots)) {
		bufs := slots[name]
		for i, b := range bufs {
			key := c.buffers[i] + "/" + name
			if b == nil {
				return c.errorf("state %q is missing", key)
			}
			if b.Dtype() != bufs[0].Dtype() || !sameShape(b.Shape(), bufs[0].Shape()) {
				return c.errorf("state %q is %s %v but %q is %s %v", key, b.Dtype(), b.Shape(),
					c.buffers[0]+"/"+name, bufs[0].Dtype(), bufs[0].Shape())
			}
		}
	}
	c.steps = int(n)
	c.slots = slots
	return nil
}

// checkParam reports what makes p unusable: a nil tensor, a dtype other than float32 and
// float64, a view, or a gradient that differs from the value in dtype or shape.
func checkParam(p Param) error {
	if p.Value == nil {
		return errors.New("value is nil")
	}
	if p.Grad == nil {
		return errors.New("gradient is nil")
	}
	if err := checkTensor(p.Value); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	if err := checkTensor(p.Grad); err != nil {
		return fmt.Errorf("gradient: %w", err)
	}
	if p.Grad.Dtype() != p.Value.Dtype() {
		return fmt.Errorf("gradient is %s, value is %s", p.Grad.Dtype(), p.Value.Dtype())
	}
	if !sameShape(p.Grad.Shape(), p.Value.Shape()) {
		return fmt.Errorf("gradient has shape %v, value has shape %v", p.Grad.Shape(), p.Value.Shape())
	}
	return nil
}

// checkTensor reports a tensor whose backing slice cannot be updated element by element.
func checkTensor(t *tensor.Dense) error {
	switch {
	case t == nil:
		return errors.New("tensor is nil")
	case t.Dtype() != tensor.Float32 && t.Dtype() != tensor.Float64:
		return fmt.Errorf("dtype %s is not float32 or float64", dtypeName(t.Dtype()))
	case t.IsMaterializable():
		return errors.New("tensor is a view or transposed; materialize it first")
	}
	n := len(t.Float32s())
	if t.Dtype() == tensor.Float64 {
		n = len(t.Float64s())
	}
	if n != t.Shape().TotalSize() {
		return fmt.Errorf("%d elements for shape %v", n, t.Shape())
	}
	return nil
}

func dtypeName(dt tensor.Dtype) string {
	if dt.Type == nil {
		return "no dtype"
	}
	return dt.Name()
}

// sameShape is strict equality, unlike tensor.Shape.Eq which takes (1, 3) for (3).
func sameShape(a, b tensor.Shape) bool { return slices.Equal(a, b) }

func zeros(dt tensor.Dtype, shape tensor.Shape) *tensor.Dense {
	n := shape.TotalSize()
	if dt == tensor.Float32 {
		return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(make([]float32, n)))
	}
	return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(make([]float64, n)))
}

func clone(t *tensor.Dense) *tensor.Dense {
	c := zeros(t.Dtype(), t.Shape())
	if t.Dtype() == tensor.Float32 {
		copy(c.Float32s(), t.Float32s())
	} else {
		copy(c.Float64s(), t.Float64s())
	}
	return c
}

// dataOf returns buffer i of bufs through data, or nil when there is no such buffer.
func dataOf[T float](bufs []*tensor.Dense, i int, data func(*tensor.Dense) []T) []T {
	if i >= len(bufs) {
		return nil
	}
	return data(bufs[i])
}

func sqrt[T float](x T) T { return T(math.Sqrt(float64(x))) }

var (
	_ Solver = (*SGD)(nil)
	_ Solver = (*Adam)(nil)
	_ Solver = (*RMSProp)(nil)
	_ Solver = (*AdaGrad)(nil)
)
