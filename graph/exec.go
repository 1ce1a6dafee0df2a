package graph

import (
	"fmt"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// machine runs a compiled graph once its inputs are bound with gorgonia.Let.
type machine interface {
	run() error
	value(n *gorgonia.Node) gorgonia.Value // a node's value after run, valid until reset
	reset()
	close() error
	// writeInto makes the machine compute n into buf, a tensor of n's shape and dtype that the
	// caller owns, and reports whether it will.
	writeInto(n *gorgonia.Node, buf *tensor.Dense) bool
	// take hands n's value after a run over to the caller when the machine can give it up
	// instead of copying it, and reports whether it did.
	take(n *gorgonia.Node) (*tensor.Dense, bool)
	// recycle gives the machine a tensor the caller no longer uses, which it may fill with a
	// later run's value of the same shape and dtype instead of allocating one.
	recycle(t *tensor.Dense)
}

// newMachine returns the machine vm for a graph whose runs must compute the needed nodes.
func newMachine(vm VM, g *gorgonia.ExprGraph, needed []*gorgonia.Node) (machine, error) {
	switch vm {
	case Executor:
		return newExecutor(g, needed)
	case TapeMachine:
		return newTape(g, needed)
	}
	return nil, fmt.Errorf("graph: unknown VM %v", vm)
}

// Preallocator is implemented by operations that can write their result into a buffer the
// executor owns and reuses from run to run: DoInto computes the op's value into out, a tensor
// of the node's shape and dtype, and returns it. unroll's own operations implement it, so a
// training step allocates almost nothing once the first step has run.
type Preallocator interface {
	DoInto(out *tensor.Dense, inputs ...gorgonia.Value) (gorgonia.Value, error)
}

// gorgoniaPrealloc runs a Gorgonia op that can write into a given buffer (its own
// UsePreallocDoer interface, which its elementwise arithmetic implements: the sums that
// gorgonia.Grad adds where a value feeds several nodes) as a Preallocator, so that it does not
// allocate its result on every run.
type gorgoniaPrealloc struct{ op gorgonia.UsePreallocDoer }

func (p gorgoniaPrealloc) DoInto(out *tensor.Dense, inputs ...gorgonia.Value) (gorgonia.Value, error) {
	return p.op.UsePreallocDo(out, inputs...)
}

// executor runs, in topological order, the operations that the needed nodes depend on, calling
// each Op directly. Values live in a slice indexed by node; a node whose op is a Preallocator
// keeps one output buffer for the life of the program.
type executor struct {
	inputs []*gorgonia.Node // nodes without an op, read at the start of each run
	steps  []execStep
	slot   map[*gorgonia.Node]int
	vals   []gorgonia.Value
	spare  []*tensor.Dense // tensors given back by the caller (recycle), for taken buffers
}

type execStep struct {
	node  *gorgonia.Node
	op    gorgonia.Op
	pre   Preallocator
	out   *tensor.Dense // the reused buffer of a Preallocator
	bound bool          // out is a caller's tensor (writeInto)
	args  []int         // slots of the op's inputs, in order
	at    int           // slot of the result
	buf   []gorgonia.Value
}

func newExecutor(g *gorgonia.ExprGraph, needed []*gorgonia.Node) (*executor, error) {
	sorted, err := gorgonia.Sort(g)
	if err != nil {
		return nil, fmt.Errorf("graph: sort: %w", err)
	}
	live := map[*gorgonia.Node]bool{}
	for _, n := range needed {
		live[n] = true
	}
	for _, n := range sorted { // roots first, so a node is marked before its children
		if !live[n] {
			continue
		}
		children := g.From(n.ID())
		for children != nil && children.Next() {
			live[children.Node().(*gorgonia.Node)] = true
		}
	}
	e := &executor{slot: make(map[*gorgonia.Node]int, len(live)), vals: make([]gorgonia.Value, len(live))}
	sums := sumOps{}
	for i := len(sorted) - 1; i >= 0; i-- { // Sort puts the roots first
		n := sorted[i]
		if !live[n] {
			continue
		}
		at := len(e.slot)
		e.slot[n] = at
		if n.Op() == nil {
			e.inputs = append(e.inputs, n) // an input or a parameter: read at run time
			continue
		}
		s := execStep{node: n, op: n.Op(), at: at}
		kids := childrenOf(g, n)
		for _, c := range kids {
			j, ok := e.slot[c]
			if !ok {
				return nil, fmt.Errorf("graph: node %v is used before it is computed", c)
			}
			s.args = append(s.args, j)
		}
		s.buf = make([]gorgonia.Value, len(s.args))
		if n.Dims() > 0 {
			switch op := n.Op().(type) {
			case Preallocator:
				s.pre = op
			case gorgonia.UsePreallocDoer:
				s.pre = gorgoniaPrealloc{op}
				if sums.is(n, kids) {
					s.pre = sumOp{op}
				}
			}
		}
		e.steps = append(e.steps, s)
	}
	return e, nil
}

// writeInto makes the step computing n write its result into buf, a tensor of n's shape and
// dtype that the caller owns (a trainer's gradient), instead of into a buffer of its own, so
// that the value need not be copied after the run. It reports whether it could.
func (e *executor) writeInto(n *gorgonia.Node, buf *tensor.Dense) bool {
	at, ok := e.slot[n]
	if !ok || buf == nil || buf.Dtype() != n.Dtype() || !buf.Shape().Eq(n.Shape()) || len(buf.Shape()) != n.Dims() {
		return false
	}
	for i := range e.steps {
		s := &e.steps[i]
		if s.at != at || s.pre == nil || s.out != nil {
			continue
		}
		s.out = buf
		s.bound = true
		return true
	}
	return false
}

// take hands the value of n after a run over to the caller when it is a buffer the executor
// owns (then the next run allocates a new one), so that an output need not be copied. It
// reports false when the value is not such a buffer: a value of an op that allocates, a view,
// or a caller's buffer given to writeInto.
func (e *executor) take(n *gorgonia.Node) (*tensor.Dense, bool) {
	at, ok := e.slot[n]
	if !ok {
		return nil, false
	}
	for i := range e.steps {
		s := &e.steps[i]
		if s.at != at {
			continue
		}
		if s.pre == nil || s.bound || s.out == nil || e.vals[at] != gorgonia.Value(s.out) {
			return nil, false
		}
		t := s.out
		s.out = nil
		return t, true
	}
	return nil, false
}

func (e *executor) run() error {
	for _, n := range e.inputs {
		v := n.Value()
		if v == nil {
			return fmt.Errorf("graph: no value bound to %q", n.Name())
		}
		e.vals[e.slot[n]] = v
	}
	for i := range e.steps {
		s := &e.steps[i]
		for k, j := range s.args {
			s.buf[k] = e.vals[j]
		}
		var v gorgonia.Value
		var err error
		if s.pre != nil {
			if s.out == nil {
				s.out = e.buffer(s.node)
			}
			v, err = s.pre.DoInto(s.out, s.buf...)
		} else {
			v, err = s.op.Do(s.buf...)
		}
		if err != nil {
			return fmt.Errorf("%v: %w", s.op, err)
		}
		e.vals[s.at] = v
	}
	return nil
}

// buffer returns a spare tensor of n's shape and dtype, or a new one (a new tensor is zeroed
// by Go's allocator, a pass over its memory on the calling goroutine that a spare saves).
func (e *executor) buffer(n *gorgonia.Node) *tensor.Dense {
	for i, t := range e.spare {
		if t.Dtype() == n.Dtype() && t.Shape().Eq(n.Shape()) && len(t.Shape()) == n.Dims() {
			e.spare = slices.Delete(e.spare, i, i+1)
			return t
		}
	}
	return tensor.New(tensor.Of(n.Dtype()), tensor.WithShape(n.Shape().Clone()...))
}

// recycle keeps t for a later buffer when it is a whole dense tensor (not a view) that is
// neither a spare already nor a buffer a step holds, and when fewer spares are kept than the
// steps could take.
func (e *executor) recycle(t *tensor.Dense) {
	if t == nil || t.IsView() || t.IsMaterializable() || len(e.spare) >= len(e.steps) {
		return
	}
	p := t.Uintptr()
	for _, u := range e.spare {
		if u == t || u.Uintptr() == p {
			return
		}
	}
	for i := range e.steps {
		if o := e.steps[i].out; o != nil && (o == t || o.Uintptr() == p) {
			return
		}
	}
	e.spare = append(e.spare, t)
}

func (e *executor) value(n *gorgonia.Node) gorgonia.Value {
	if at, ok := e.slot[n]; ok {
		return e.vals[at]
	}
	return nil
}

// reset drops the references to the run's values (reused buffers stay with their steps).
func (e *executor) reset() { clear(e.vals) }

func (e *executor) close() error { return nil }
