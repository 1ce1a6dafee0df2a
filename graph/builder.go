package graph

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Mode says whether a graph is built for training or for evaluation. Layers that behave
// differently (Dropout, BatchNorm) read it from the Builder.
type Mode int

const (
	// Train builds a graph for training: dropout masks are drawn, BatchNorm uses batch
	// statistics and updates its running statistics.
	Train Mode = iota
	// Eval builds a graph for evaluation and inference: dropout is the identity, BatchNorm uses
	// its running statistics.
	Eval
)

func (m Mode) String() string {
	if m == Eval {
		return "eval"
	}
	return "train"
}

// Sampler fills dst with fresh random values from r; Builder.Noise calls it before each run,
// with dst zeroed.
type Sampler func(r *rand.Rand, dst []float64)

type inputKind int

const (
	feedInput  inputKind = iota // fed by the caller on every run
	noiseInput                  // drawn from the model's random source on every run
	stateInput                  // carried from the previous run's value of a node
)

type input struct {
	name    string
	node    *gorgonia.Node
	kind    inputKind
	sampler Sampler
	next    *gorgonia.Node // stateInput: the node whose value is carried to the next run
}

type bufferUpdate struct {
	name string
	node *gorgonia.Node
}

// Builder builds one Gorgonia expression graph for one Params set: it holds the graph, its
// dtype (the Params' dtype) and its mode, names nodes uniquely (Gorgonia merges nodes that
// share a name), binds parameters by name and declares the graph's inputs. Layers add their
// nodes through it; Compile or NewTrainer turns it into something that runs.
//
// There are three kinds of inputs: fed inputs (Input), given by the caller on every run;
// noise inputs (Noise), drawn from the model's random source on every run (dropout masks);
// and carried state (State), whose value for the next run is the value a node had at the end
// of this one (truncated backpropagation through time carries a recurrent state this way, so
// no gradient crosses from one run to the next).
type Builder struct {
	g        *gorgonia.ExprGraph
	ps       *Params
	mode     Mode
	names    map[string]int
	bound    map[string]*gorgonia.Node
	order    []string // bound parameters and buffers, in binding order
	inputs   []*input
	byInput  map[string]*input
	buffers  []bufferUpdate
	shared   map[string]*gorgonia.Node
	compiled bool
	// The backward pass, once compiled with a loss: the nodes symbolic differentiation added
	// have IDs from gradFrom on, and grads are the gradients the program computes (Dot).
	gradFrom int64
	grads    []*gorgonia.Node
}

// NewBuilder starts a new graph over ps in the given mode.
func NewBuilder(ps *Params, mode Mode) *Builder {
	return &Builder{
		g:       gorgonia.NewGraph(),
		ps:      ps,
		mode:    mode,
		names:   map[string]int{},
		bound:   map[string]*gorgonia.Node{},
		byInput: map[string]*input{},
		shared:  map[string]*gorgonia.Node{},
	}
}

// Graph is the underlying Gorgonia graph.
func (b *Builder) Graph() *gorgonia.ExprGraph { return b.g }

// Params is the parameter set the graph binds.
func (b *Builder) Params() *Params { return b.ps }

// Dtype is the element type of the graph's values.
func (b *Builder) Dtype() tensor.Dtype { return b.ps.dtype }

// Mode is Train or Eval.
func (b *Builder) Mode() Mode { return b.mode }

// Training reports whether the graph is built for training.
func (b *Builder) Training() bool { return b.mode == Train }

// Name returns base the first time it is asked for and base#2, base#3, ... afterwards, so
// that every node a layer names is unique even when the layer is applied twice.
func (b *Builder) Name(base string) string {
	b.names[base]++
	if n := b.names[base]; n > 1 {
		return fmt.Sprintf("%s#%d", base, n)
	}
	return base
}

// Shared returns the node that make builds for key in this graph, calling make on the first
// request only: a layer that adds many nodes to one graph (a recurrent cell, one step per time
// step) builds once a value that all of them read (its weights, prepared for the products).
func (b *Builder) Shared(key string, make func() (*gorgonia.Node, error)) (*gorgonia.Node, error) {
	if n, ok := b.shared[key]; ok {
		return n, nil
	}
	if err := b.checkOpen("shared node " + key); err != nil {
		return nil, err
	}
	n, err := make()
	if err != nil {
		return nil, err
	}
	b.shared[key] = n
	return n, nil
}

func (b *Builder) checkOpen(what string) error {
	if b.compiled {
		return fmt.Errorf("graph: %s after the graph was compiled", what)
	}
	return nil
}

// Param binds the named trainable parameter into the graph and returns its node; binding the
// same name again returns the same node. The node shares the parameter's tensor.
func (b *Builder) Param(name string) (*gorgonia.Node, error) {
	return b.bind(name, true)
}

// Buffer binds the named non-trainable buffer (a running statistic) into the graph.
func (b *Builder) Buffer(name string) (*gorgonia.Node, error) {
	return b.bind(name, false)
}

func (b *Builder) bind(name string, trainable bool) (*gorgonia.Node, error) {
	if n, ok := b.bound[name]; ok {
		return n, nil
	}
	if err := b.checkOpen("binding " + name); err != nil {
		return nil, err
	}
	e := b.ps.Get(name)
	switch {
	case e == nil:
		return nil, fmt.Errorf("graph: no parameter or buffer %q in the model", name)
	case e.Trainable && !trainable:
		return nil, fmt.Errorf("graph: %q is a trainable parameter, not a buffer", name)
	case !e.Trainable && trainable:
		return nil, fmt.Errorf("graph: %q is a buffer, not a trainable parameter", name)
	}
	if _, taken := b.names[name]; taken {
		return nil, fmt.Errorf("graph: name %q is already used by another node", name)
	}
	b.names[name] = 1
	shape := e.Value.Shape()
	n := gorgonia.NewTensor(b.g, b.ps.dtype, len(shape), gorgonia.WithShape(shape...),
		gorgonia.WithName(name), gorgonia.WithValue(e.Value))
	b.bound[name] = n
	b.order = append(b.order, name)
	return n, nil
}

// Input declares a fed input: the caller gives its value, of exactly this shape and the graph's
// dtype, on every run.
func (b *Builder) Input(name string, shape ...int) (*gorgonia.Node, error) {
	return b.addInput(&input{name: name, kind: feedInput}, shape)
}

// Noise declares an input that the program fills from the model's random source before each
// run, by calling s. A caller may still feed it explicitly (a gradient check holds it fixed).
func (b *Builder) Noise(name string, shape []int, s Sampler) (*gorgonia.Node, error) {
	if s == nil {
		return nil, fmt.Errorf("graph: noise input %q has no sampler", name)
	}
	return b.addInput(&input{name: name, kind: noiseInput, sampler: s}, shape)
}

// State declares carried state: an input that starts at zero and, after each run, takes the
// value of the node given to Carry. Feeding it explicitly overrides the carried value.
func (b *Builder) State(name string, shape ...int) (*gorgonia.Node, error) {
	return b.addInput(&input{name: name, kind: stateInput}, shape)
}

// Carry sets the node whose value the state input name takes for the next run.
func (b *Builder) Carry(name string, next *gorgonia.Node) error {
	if err := b.checkOpen("carrying " + name); err != nil {
		return err
	}
	in := b.byInput[name]
	if in == nil || in.kind != stateInput {
		return fmt.Errorf("graph: carry: no state input %q", name)
	}
	if next == nil {
		return fmt.Errorf("graph: carry %q: nil node", name)
	}
	if !next.Shape().Eq(in.node.Shape()) {
		return fmt.Errorf("graph: carry %q: node has shape %v, state has %v", name, next.Shape(), in.node.Shape())
	}
	in.next = next
	return nil
}

// UpdateBuffer sets the node whose value is copied into the named buffer after each run of
// a training graph (a running mean, for instance). Evaluation graphs never update buffers.
func (b *Builder) UpdateBuffer(name string, next *gorgonia.Node) error {
	if err := b.checkOpen("updating buffer " + name); err != nil {
		return err
	}
	e := b.ps.Get(name)
	if e == nil || e.Trainable {
		return fmt.Errorf("graph: update buffer: no buffer %q", name)
	}
	if next == nil || !next.Shape().Eq(e.Value.Shape()) {
		return fmt.Errorf("graph: update buffer %q: node shape does not match %v", name, e.Value.Shape())
	}
	if b.mode == Eval {
		return nil
	}
	b.buffers = append(b.buffers, bufferUpdate{name: name, node: next})
	return nil
}

func (b *Builder) addInput(in *input, shape []int) (*gorgonia.Node, error) {
	if err := b.checkOpen("adding input " + in.name); err != nil {
		return nil, err
	}
	if in.name == "" {
		return nil, fmt.Errorf("graph: input with an empty name")
	}
	if _, taken := b.names[in.name]; taken {
		return nil, fmt.Errorf("graph: input %q: name already used", in.name)
	}
	if b.ps.Get(in.name) != nil {
		return nil, fmt.Errorf("graph: input %q: name is a parameter's", in.name)
	}
	if len(shape) == 0 {
		return nil, fmt.Errorf("graph: input %q: empty shape", in.name)
	}
	for _, d := range shape {
		if d < 1 {
			return nil, fmt.Errorf("graph: input %q: shape %v has a size below 1", in.name, shape)
		}
	}
	b.names[in.name] = 1
	in.node = gorgonia.NewTensor(b.g, b.ps.dtype, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName(in.name))
	b.inputs = append(b.inputs, in)
	b.byInput[in.name] = in
	return in.node, nil
}

// Inputs lists the names of the fed inputs, in declaration order.
func (b *Builder) Inputs() []string {
	var out []string
	for _, in := range b.inputs {
		if in.kind == feedInput {
			out = append(out, in.name)
		}
	}
	return out
}

// Bound lists the parameters and buffers bound into the graph, in binding order.
func (b *Builder) Bound() []string { return slices.Clone(b.order) }

// String describes the graph briefly: mode, dtype, node, input and parameter counts.
func (b *Builder) String() string {
	var ins []string
	for _, in := range b.inputs {
		ins = append(ins, fmt.Sprintf("%s%v", in.name, in.node.Shape()))
	}
	return fmt.Sprintf("%s graph (%v): %d nodes, inputs %s, %d parameters bound",
		b.mode, b.ps.dtype, len(b.g.AllNodes()), strings.Join(ins, " "), len(b.order))
}
