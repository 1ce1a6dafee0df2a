package graph

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Feeds maps input names to their values for one run.
type Feeds map[string]*tensor.Dense

// Outputs maps output names to their values after a run. The tensors belong to the caller.
type Outputs map[string]*tensor.Dense

// Program is a graph compiled once and run many times. Run feeds the inputs by name, runs the
// graph's operations in order, hands the named outputs to the caller (copies, or buffers the
// executor gives up) and drops the run's values. A Program carries the values of its state
// inputs from one run to the next and copies updated buffers back into Params after training
// runs.
//
// A Program is not safe for concurrent use; build one per goroutine from the same Params.
type Program struct {
	b       *Builder
	m       machine
	outputs map[string]*gorgonia.Node
	loss    *gorgonia.Node
	grads   []gradNode
	state   map[string]*tensor.Dense // current value of each state input
	noise   map[string]*tensor.Dense // reusable buffer of each noise input
	scratch []float64
	runs    int
}

type gradNode struct {
	name   string
	node   *gorgonia.Node
	value  *tensor.Dense // where the gradient is copied after each run
	direct bool          // the executor writes the gradient into value itself
	param  *Entry
}

// Compile compiles the builder's graph into a Program that returns the named outputs, run by
// unroll's executor unless WithVM says otherwise. A builder compiles once; build another graph
// (from the same Params) for another batch size or mode.
func Compile(b *Builder, outputs map[string]*gorgonia.Node, opts ...CompileOption) (*Program, error) {
	return compile(b, outputs, nil, nil, compileOptions(opts))
}

// compile adds, when loss is not nil, the symbolic gradient of loss with respect to every
// trainable parameter bound in the graph and to the fed inputs named in wrtInputs.
func compile(b *Builder, outputs map[string]*gorgonia.Node, loss *gorgonia.Node, wrtInputs []string, cfg compileConfig) (*Program, error) {
	if b.compiled {
		return nil, fmt.Errorf("graph: the builder was already compiled")
	}
	p := &Program{b: b, outputs: map[string]*gorgonia.Node{}, state: map[string]*tensor.Dense{}, noise: map[string]*tensor.Dense{}}
	for name, n := range outputs {
		if n == nil {
			return nil, fmt.Errorf("graph: output %q is nil", name)
		}
		if n.Graph() != b.g {
			return nil, fmt.Errorf("graph: output %q belongs to another graph", name)
		}
		p.outputs[name] = n
	}
	for _, in := range b.inputs {
		switch in.kind {
		case stateInput:
			if in.next == nil {
				return nil, fmt.Errorf("graph: state %q has no carried node (call Carry)", in.name)
			}
			p.state[in.name] = NewTensor(b.Dtype(), in.node.Shape().Clone(), nil)
		case noiseInput:
			p.noise[in.name] = NewTensor(b.Dtype(), in.node.Shape().Clone(), nil)
		}
	}
	if loss != nil {
		if err := p.differentiate(loss, wrtInputs); err != nil {
			return nil, err
		}
	}
	m, err := newMachine(cfg.vm, b.g, p.needed())
	if err != nil {
		return nil, err
	}
	p.m = m
	for i := range p.grads { // gradients are computed where the trainer reads them, if the machine can
		g := &p.grads[i]
		g.direct = m.writeInto(g.node, g.value)
	}
	b.compiled = true
	return p, nil
}

// differentiate adds to p's graph the symbolic gradient of loss with respect to every trainable
// parameter bound in it and to the fed inputs named in wrtInputs (see JointGradOp for the
// gradients it then replaces), and lists them in p.grads.
func (p *Program) differentiate(loss *gorgonia.Node, wrtInputs []string) error {
	if loss.Graph() != p.b.g {
		return fmt.Errorf("graph: the loss belongs to another graph")
	}
	if !loss.IsScalar() {
		return fmt.Errorf("graph: the loss must be a scalar, it has shape %v", loss.Shape())
	}
	p.loss = loss
	var wrt []*gorgonia.Node
	for _, name := range p.b.order {
		e := p.b.ps.Get(name)
		if !e.Trainable {
			continue
		}
		wrt = append(wrt, p.b.bound[name])
		p.grads = append(p.grads, gradNode{name: name, param: e, value: tensor.New(tensor.Of(e.Value.Dtype()), tensor.WithShape(e.Value.Shape().Clone()...))})
	}
	for _, name := range wrtInputs {
		in := p.b.byInput[name]
		if in == nil {
			return fmt.Errorf("graph: no input %q to differentiate with respect to", name)
		}
		wrt = append(wrt, in.node)
		p.grads = append(p.grads, gradNode{name: name, value: tensor.New(tensor.Of(p.b.Dtype()), tensor.WithShape(in.node.Shape().Clone()...))})
	}
	if len(wrt) == 0 {
		return fmt.Errorf("graph: the graph binds no trainable parameter")
	}
	p.b.gradFrom = nextNodeID(p.b.g)
	gs, err := gorgonia.Grad(loss, wrt...)
	if err != nil {
		return fmt.Errorf("graph: symbolic gradient: %w", err)
	}
	if err := jointGradients(p.b.g, wrt, gs); err != nil {
		return err
	}
	for i := range p.grads {
		p.grads[i].node = gs[i]
	}
	p.b.grads = gs
	return nil
}

// needed lists the nodes a run must compute: outputs, loss, gradients, carried state and
// buffer updates. Nodes that none of them depends on (the gradient of an image input, say) are
// never run.
func (p *Program) needed() []*gorgonia.Node {
	var ns []*gorgonia.Node
	for _, n := range p.outputs {
		ns = append(ns, n)
	}
	if p.loss != nil {
		ns = append(ns, p.loss)
	}
	for _, g := range p.grads {
		ns = append(ns, g.node)
	}
	for _, in := range p.b.inputs {
		if in.next != nil {
			ns = append(ns, in.next)
		}
	}
	for _, u := range p.b.buffers {
		ns = append(ns, u.node)
	}
	return ns
}

// Builder returns the builder the program was compiled from.
func (p *Program) Builder() *Builder { return p.b }

// Close releases the machine.
func (p *Program) Close() error { return p.m.close() }

// Run feeds the inputs, runs the graph once and returns the named outputs. The state inputs
// then take their carried values, and a training graph's buffers are updated. A feed of the
// wrong shape or dtype, or holding a NaN or infinite value, is an error naming the input.
func (p *Program) Run(feeds Feeds) (Outputs, error) {
	r, err := p.run(feeds, p.outputs)
	if err != nil {
		return nil, err
	}
	p.commit(r)
	return r.outputs, nil
}

// Recycle gives the tensors of an earlier run's outputs back to the program, which may write a
// later run's outputs into them instead of allocating new ones (as a caching allocator reuses
// freed memory): for a program run in a loop whose outputs are read and dropped before the
// next run, it saves a pass over their memory per run. The caller must not use them, nor any
// view of them, afterwards. Tensors the program cannot reuse are dropped; with the
// TapeMachine, all are.
func (p *Program) Recycle(outs Outputs) {
	for _, t := range outs {
		p.m.recycle(t)
	}
}

// result is one run's values, copied out of the machine before its reset.
type result struct {
	outputs Outputs
	loss    float64
	state   map[string]*tensor.Dense
	buffers map[string]*tensor.Dense
}

func (p *Program) run(feeds Feeds, outputs map[string]*gorgonia.Node) (*result, error) {
	if err := p.bindInputs(feeds); err != nil {
		return nil, err
	}
	defer p.m.reset()
	if err := p.m.run(); err != nil {
		return nil, fmt.Errorf("graph: run: %w", err)
	}
	p.runs++
	r := &result{outputs: Outputs{}, state: map[string]*tensor.Dense{}, buffers: map[string]*tensor.Dense{}}
	for name, n := range outputs {
		if t, ok := p.takeOutput(n, outputs); ok {
			r.outputs[name] = t
			continue
		}
		v, err := cloneDense(p.m.value(n))
		if err != nil {
			return nil, fmt.Errorf("graph: output %q: %w", name, err)
		}
		r.outputs[name] = v
	}
	if p.loss != nil {
		v, err := cloneDense(p.m.value(p.loss))
		if err != nil {
			return nil, fmt.Errorf("graph: loss: %w", err)
		}
		r.loss = Float64s(v)[0]
		for _, g := range p.grads {
			if g.direct {
				continue
			}
			if err := copyValue(g.value, p.m.value(g.node)); err != nil {
				return nil, fmt.Errorf("graph: gradient of %s: %w", g.name, err)
			}
		}
	}
	for _, in := range p.b.inputs {
		if in.kind == stateInput {
			v, err := cloneDense(p.m.value(in.next))
			if err != nil {
				return nil, fmt.Errorf("graph: state %q: %w", in.name, err)
			}
			r.state[in.name] = v
		}
	}
	for _, u := range p.b.buffers {
		v, err := cloneDense(p.m.value(u.node))
		if err != nil {
			return nil, fmt.Errorf("graph: buffer %q: %w", u.name, err)
		}
		r.buffers[u.name] = v
	}
	return r, nil
}

// takeOutput hands the machine's buffer holding output n over to the caller instead of
// copying it, when n is the output of no other name and no carried state or buffer update
// reads it after the run.
func (p *Program) takeOutput(n *gorgonia.Node, outputs map[string]*gorgonia.Node) (*tensor.Dense, bool) {
	uses := 0
	for _, o := range outputs {
		if o == n {
			uses++
		}
	}
	for _, in := range p.b.inputs {
		if in.next == n {
			uses++
		}
	}
	for _, u := range p.b.buffers {
		if u.node == n {
			uses++
		}
	}
	if uses > 1 {
		return nil, false
	}
	return p.m.take(n)
}

// commit applies a run's carried state and buffer updates.
func (p *Program) commit(r *result) {
	for name, v := range r.state {
		p.state[name] = v
	}
	for name, v := range r.buffers {
		_ = CopyInto(p.b.ps.Value(name), v) // shapes were checked by UpdateBuffer
	}
}

func copyValue(dst *tensor.Dense, v gorgonia.Value) error {
	src, ok := v.(*tensor.Dense)
	if !ok {
		return fmt.Errorf("unsupported value %T", v)
	}
	if src.Shape().TotalSize() != dst.Shape().TotalSize() {
		return fmt.Errorf("value has shape %v, want %v", src.Shape(), dst.Shape())
	}
	switch d := dst.Data().(type) {
	case []float32:
		s, ok := src.Data().([]float32)
		if !ok {
			return fmt.Errorf("value is %v, want float32", src.Dtype())
		}
		copy(d, s)
	case []float64:
		s, ok := src.Data().([]float64)
		if !ok {
			return fmt.Errorf("value is %v, want float64", src.Dtype())
		}
		copy(d, s)
	}
	return nil
}

// bindInputs checks every feed against the declared inputs and binds all inputs.
func (p *Program) bindInputs(feeds Feeds) error {
	for name := range feeds {
		if p.b.byInput[name] == nil {
			return fmt.Errorf("graph: no input %q (inputs: %s)", name, strings.Join(p.inputNames(), ", "))
		}
	}
	for _, in := range p.b.inputs {
		v, fed := feeds[in.name]
		switch {
		case fed:
			if v == nil {
				return fmt.Errorf("graph: input %q: nil value", in.name)
			}
			if v.Dtype() != p.b.Dtype() {
				return fmt.Errorf("graph: input %q is %v, want %v", in.name, v.Dtype(), p.b.Dtype())
			}
			if !v.Shape().Eq(in.node.Shape()) {
				return fmt.Errorf("graph: input %q has shape %v, want %v", in.name, v.Shape(), in.node.Shape())
			}
			if i := firstNonFinite(v); i >= 0 {
				return fmt.Errorf("graph: input %q holds %v at element %d: inputs must be finite", in.name, Float64s(v)[i], i)
			}
		case in.kind == feedInput:
			return fmt.Errorf("graph: input %q (shape %v) was not fed", in.name, in.node.Shape())
		case in.kind == stateInput:
			v = p.state[in.name]
		case in.kind == noiseInput:
			v = p.noise[in.name]
			p.sample(in, v)
		}
		if err := gorgonia.Let(in.node, v); err != nil {
			return fmt.Errorf("graph: input %q: %w", in.name, err)
		}
	}
	return nil
}

func (p *Program) sample(in *input, dst *tensor.Dense) {
	n := dst.Shape().TotalSize()
	if cap(p.scratch) < n {
		p.scratch = make([]float64, n)
	}
	s := p.scratch[:n]
	clear(s) // a sampler may write only the non-zero values
	in.sampler(p.b.ps.noiseRand(), s)
	switch d := dst.Data().(type) {
	case []float32:
		for i, v := range s {
			d[i] = float32(v)
		}
	case []float64:
		copy(d, s)
	}
}

func (p *Program) inputNames() []string {
	var out []string
	for _, in := range p.b.inputs {
		out = append(out, in.name)
	}
	return out
}

// StateNames lists the carried state inputs, sorted.
func (p *Program) StateNames() []string { return slices.Sorted(maps.Keys(p.state)) }

// State returns a copy of the current carried state, for a checkpoint.
func (p *Program) State() map[string]*tensor.Dense {
	out := make(map[string]*tensor.Dense, len(p.state))
	for n, v := range p.state {
		out[n] = v.Clone().(*tensor.Dense)
	}
	return out
}

// SetState replaces carried state values (all or some); names and shapes must match.
func (p *Program) SetState(state map[string]*tensor.Dense) error {
	for n, v := range state {
		cur, ok := p.state[n]
		if !ok {
			return fmt.Errorf("graph: no state %q (states: %s)", n, strings.Join(p.StateNames(), ", "))
		}
		if v == nil || !v.Shape().Eq(cur.Shape()) {
			return fmt.Errorf("graph: state %q: wrong shape, want %v", n, cur.Shape())
		}
	}
	for n, v := range state {
		p.state[n] = Convert(v, p.b.Dtype())
	}
	return nil
}

// ResetState sets every carried state back to zero (the start of a new sequence).
func (p *Program) ResetState() {
	for n, v := range p.state {
		p.state[n] = NewTensor(p.b.Dtype(), v.Shape().Clone(), nil)
	}
}

// OutputNames lists the program's outputs, sorted.
func (p *Program) OutputNames() []string { return slices.Sorted(maps.Keys(p.outputs)) }
