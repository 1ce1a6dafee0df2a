package graph

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// tape adapts Gorgonia's TapeMachine. It must be Reset after every run, or the next run
// silently returns stale values.
//
// The TapeMachine lets an op of Gorgonia's that may overwrite its input (its elementwise
// arithmetic) compute in place in the input's memory when the input is not read after it, and
// it knows nothing of the values a program reads after the run: an output that feeds such an
// op would be returned overwritten. For each needed node that feeds one, newTape adds a node
// that copies it (keepOp), read instead; the machine then keeps the value until the copy.
type tape struct {
	vm   gorgonia.VM
	keep map[*gorgonia.Node]*gorgonia.Node // the copy read for a node
}

func newTape(g *gorgonia.ExprGraph, needed []*gorgonia.Node) (*tape, error) {
	t := &tape{keep: map[*gorgonia.Node]*gorgonia.Node{}}
	for _, n := range needed {
		if _, done := t.keep[n]; done || !overwrittenByConsumer(g, n) {
			continue
		}
		k, err := gorgonia.ApplyOp(keepOp{}, n)
		if err != nil {
			return nil, fmt.Errorf("graph: keeping the value of %v: %w", n, err)
		}
		t.keep[n] = k
	}
	t.vm = gorgonia.NewTapeMachine(g)
	return t, nil
}

// overwrittenByConsumer reports whether an op that n feeds may overwrite one of its inputs.
func overwrittenByConsumer(g *gorgonia.ExprGraph, n *gorgonia.Node) bool {
	for _, p := range parentsOf(g, n) {
		if p.Op() != nil && p.Op().OverwritesInput() >= 0 {
			return true
		}
	}
	return false
}

func (t *tape) run() error { return t.vm.RunAll() }
func (t *tape) value(n *gorgonia.Node) gorgonia.Value {
	if k, ok := t.keep[n]; ok {
		return k.Value()
	}
	return n.Value()
}
func (t *tape) reset()                                       { t.vm.Reset() }
func (t *tape) close() error                                 { return t.vm.Close() }
func (t *tape) writeInto(*gorgonia.Node, *tensor.Dense) bool { return false }
func (t *tape) take(*gorgonia.Node) (*tensor.Dense, bool)    { return nil, false }
func (t *tape) recycle(*tensor.Dense)                        {}

// keepOp copies its input into a new value: the copy of a value the TapeMachine could
// overwrite before the program reads it (see tape). It is added after differentiation and
// never differentiated.
type keepOp struct{}

func (keepOp) Arity() int { return 1 }
func (keepOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a)
}
func (keepOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("keep: %d inputs, want 1", len(in))
	}
	if sh, ok := in[0].(tensor.Shape); ok {
		return sh.Clone(), nil
	}
	return nil, fmt.Errorf("keep: input has no known shape")
}
func (keepOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("keep: %d inputs, want 1", len(in))
	}
	return gorgonia.CloneValue(in[0])
}
func (keepOp) ReturnsPtr() bool      { return false }
func (keepOp) CallsExtern() bool     { return false }
func (keepOp) OverwritesInput() int  { return -1 }
func (keepOp) WriteHash(h hash.Hash) { fmt.Fprint(h, "unroll.keep") }
func (op keepOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}
func (keepOp) String() string       { return "keep" }
func (keepOp) DiffWRT(n int) []bool { return make([]bool, n) }
func (keepOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("keep: not differentiable")
}
