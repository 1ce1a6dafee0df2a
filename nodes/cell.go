package nodes

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// CellOption configures a recurrent cell (NewRNNCell, NewLSTMCell, NewGRUCell). Options that
// belong to one kind of cell only are an error on the others.
type CellOption func(*cellConfig)

type cellConfig struct {
	relu          bool
	forgetBias    float64
	hasForgetBias bool
	primitive     bool
	suffix        string
}

// RNNReLU makes an RNNCell use ReLU instead of tanh (PyTorch's nonlinearity="relu").
func RNNReLU() CellOption { return func(c *cellConfig) { c.relu = true } }

// ForgetBias initialises an LSTMCell so that its forget gate starts with total bias v: the
// forget block of bias_ih is set to v and that of bias_hh to 0 (the other blocks keep
// PyTorch's initialisation). ForgetBias(1) makes the cell remember more at the start of
// training (Jozefowicz et al., 2015).
func ForgetBias(v float64) CellOption {
	return func(c *cellConfig) { c.forgetBias, c.hasForgetBias = v, true }
}

// PrimitiveOps builds each step from Gorgonia's own operations (matrix products, slices,
// sigmoid, tanh, elementwise products) instead of the fused step op. It computes the same
// function with about four times as many graph nodes; it is the reference the fused op is
// tested against.
func PrimitiveOps() CellOption { return func(c *cellConfig) { c.primitive = true } }

// ParamSuffix appends s to the cell's parameter names, "<name>.weight_ih<s>": PyTorch's
// nn.LSTM names the cells of its layers with "_l0", "_l1", ... and "_l0_reverse" for the
// backward direction (models/rnn uses this).
func ParamSuffix(s string) CellOption { return func(c *cellConfig) { c.suffix = s } }

// cellBase is what the three cells share: the names and sizes of the parameters, the checks
// on the input and state, and the choice between the fused and the primitive step.
type cellBase struct {
	kind       ops.CellKind
	name       string
	suffix     string
	in, hidden int
	primitive  bool
}

// The four parameters of every cell, in PyTorch's order.
const (
	weightIH = "weight_ih"
	weightHH = "weight_hh"
	biasIH   = "bias_ih"
	biasHH   = "bias_hh"
)

func newCellBase(ps *graph.Params, kind ops.CellKind, name string, in, hidden int, opts []CellOption) (cellBase, error) {
	var cfg cellConfig
	for _, o := range opts {
		o(&cfg)
	}
	c := cellBase{kind: kind, name: name, suffix: cfg.suffix, in: in, hidden: hidden, primitive: cfg.primitive}
	if cfg.relu {
		switch kind {
		case ops.RNNTanh:
			c.kind = ops.RNNReLU
		default:
			return c, fmt.Errorf("%s: the ReLU nonlinearity applies to RNN cells only, not %s", c.label(), kind)
		}
	}
	label := c.label()
	if name == "" {
		return c, fmt.Errorf("recurrent cell: empty name")
	}
	if strings.Contains(name+cfg.suffix, "/") {
		return c, fmt.Errorf("%s: parameter names must not contain '/'", label)
	}
	if in < 1 || hidden < 1 {
		return c, fmt.Errorf("%s: %s cell sizes must be positive, got input %d, hidden %d", label, kind, in, hidden)
	}
	if cfg.hasForgetBias && kind != ops.LSTM {
		return c, fmt.Errorf("%s: a forget-gate bias applies to LSTM cells only, not %s", label, kind)
	}
	g := kind.Gates() * hidden
	init := graph.TorchRNN(hidden)
	bihInit, bhhInit := init, init
	if cfg.hasForgetBias {
		// The forget block [H, 2H) of bias_ih holds the option's value, that of bias_hh 0.
		bihInit, bhhInit = forgetBlock(init, hidden, cfg.forgetBias), forgetBlock(init, hidden, 0)
	}
	for _, p := range []struct {
		name  string
		shape []int
		init  graph.Init
	}{
		{weightIH, []int{g, in}, init},
		{weightHH, []int{g, hidden}, init},
		{biasIH, []int{g}, bihInit},
		{biasHH, []int{g}, bhhInit},
	} {
		if _, err := ps.Add(c.ParamName(p.name), p.shape, p.init); err != nil {
			return c, fmt.Errorf("%s: %w", label, err)
		}
	}
	return c, nil
}

// forgetBlock is init followed by setting the forget block [H, 2H) of an LSTM bias to v: drawn
// as usual first, so that the other parameters do not depend on the forget-bias option.
func forgetBlock(init graph.Init, hidden int, v float64) graph.Init {
	return func(r *rand.Rand, shape []int, dst []float64) {
		init(r, shape, dst)
		for j := hidden; j < 2*hidden; j++ {
			dst[j] = v
		}
	}
}

// label names the cell in errors: its name and suffix, "lstm_l1_reverse".
func (c *cellBase) label() string { return c.name + c.suffix }

// Name is the cell's name, the prefix of its parameters.
func (c *cellBase) Name() string { return c.name }

// ParamName returns the full name of one of the cell's parameters, "weight_ih", "weight_hh",
// "bias_ih" or "bias_hh": "<name>.weight_ih<suffix>".
func (c *cellBase) ParamName(p string) string { return c.name + "." + p + c.suffix }

// ParamNames lists the cell's four parameters in PyTorch's order.
func (c *cellBase) ParamNames() []string {
	return []string{c.ParamName(weightIH), c.ParamName(weightHH), c.ParamName(biasIH), c.ParamName(biasHH)}
}

// InputSize is the width of the input x.
func (c *cellBase) InputSize() int { return c.in }

// HiddenSize is the width of the hidden state H.
func (c *cellBase) HiddenSize() int { return c.hidden }

// HasCell reports whether the state has a memory cell C (LSTM cells only).
func (c *cellBase) HasCell() bool { return c.kind.HasCell() }

// check validates the input and the state.
func (c *cellBase) check(b *graph.Builder, x *gorgonia.Node, s State) error {
	l := c.label()
	switch {
	case b == nil:
		return fmt.Errorf("%s: nil builder", l)
	case x == nil:
		return fmt.Errorf("%s: nil input", l)
	case x.Dims() != 2:
		return fmt.Errorf("%s: input must be (batch, %d), has shape %v", l, c.in, x.Shape())
	case x.Shape()[1] != c.in:
		return fmt.Errorf("%s: expects %d input features, input has %d", l, c.in, x.Shape()[1])
	case x.Dtype() != b.Dtype():
		return fmt.Errorf("%s: input is %v, the graph is %v", l, x.Dtype(), b.Dtype())
	}
	batch := x.Shape()[0]
	want := tensor.Shape{batch, c.hidden}
	if s.H == nil {
		return fmt.Errorf("%s: the state has no hidden state H", l)
	}
	if !s.H.Shape().Eq(want) {
		return fmt.Errorf("%s: hidden state must be %v (batch, hidden), has shape %v", l, want, s.H.Shape())
	}
	if c.kind.HasCell() {
		if s.C == nil {
			return fmt.Errorf("%s: an LSTM state needs a memory cell C", l)
		}
		if !s.C.Shape().Eq(want) {
			return fmt.Errorf("%s: memory cell must be %v (batch, hidden), has shape %v", l, want, s.C.Shape())
		}
	} else if s.C != nil {
		return fmt.Errorf("%s: %s cells have no memory cell C, the state has one", l, c.kind)
	}
	return nil
}

// cellParams binds the four parameters: W_ih, W_hh, b_ih, b_hh.
type cellParams struct{ wih, whh, bih, bhh *gorgonia.Node }

func (c *cellBase) bind(b *graph.Builder) (cellParams, error) {
	var p cellParams
	var err error
	for _, q := range []struct {
		dst  **gorgonia.Node
		name string
	}{{&p.wih, weightIH}, {&p.whh, weightHH}, {&p.bih, biasIH}, {&p.bhh, biasHH}} {
		if *q.dst, err = b.Param(c.ParamName(q.name)); err != nil {
			return p, fmt.Errorf("%s: %w", c.label(), err)
		}
	}
	return p, nil
}

// step checks, binds and adds one step, fused or primitive.
func (c *cellBase) step(b *graph.Builder, x *gorgonia.Node, s State) (State, error) {
	if err := c.check(b, x, s); err != nil {
		return State{}, err
	}
	p, err := c.bind(b)
	if err != nil {
		return State{}, err
	}
	var next State
	if c.primitive {
		next, err = c.primitiveStep(b, x, s, p)
	} else {
		next, err = c.fusedStep(b, x, s, p)
	}
	if err != nil {
		return State{}, fmt.Errorf("%s: %w", c.label(), err)
	}
	return next, nil
}

// fusedStep adds one fused step node and, for an LSTM, the cuts of h' and c'. Every step of
// the cell in the graph reads the one node that prepares its weights for the run.
func (c *cellBase) fusedStep(b *graph.Builder, x *gorgonia.Node, s State, p cellParams) (State, error) {
	l := c.label()
	w, err := b.Shared(l+"/weights", func() (*gorgonia.Node, error) {
		return ops.CellWeights(c.kind, p.wih, p.whh, b.Training(), b.Name(l+".weights"))
	})
	if err != nil {
		return State{}, err
	}
	args := []*gorgonia.Node{x, s.H}
	if c.kind.HasCell() {
		args = append(args, s.C)
	}
	args = append(args, p.wih, p.whh, p.bih, p.bhh, w)
	out, err := ops.CellStep(c.kind, b.Name(l+".step"), args...) // (B, P·H)
	if err != nil {
		return State{}, err
	}
	if !c.kind.HasCell() {
		return State{H: out}, nil
	}
	H := c.hidden
	h, err := ops.Cols(out, 0, H, b.Name(l+".h")) // (B, H)
	if err != nil {
		return State{}, err
	}
	cn, err := ops.Cols(out, H, 2*H, b.Name(l+".c")) // (B, H)
	if err != nil {
		return State{}, err
	}
	return State{H: h, C: cn}, nil
}

// primitiveStep builds the step from Gorgonia's own operations.
func (c *cellBase) primitiveStep(b *graph.Builder, x *gorgonia.Node, s State, p cellParams) (State, error) {
	var e primErr
	gi := e.linear(x, p.wih, p.bih)   // (B, G·H)
	gh := e.linear(s.H, p.whh, p.bhh) // (B, G·H)
	H := c.hidden
	switch c.kind {
	case ops.RNNTanh, ops.RNNReLU:
		pre := e.do(gorgonia.Add(gi, gh))
		if c.kind == ops.RNNReLU {
			return State{H: e.do(gorgonia.Rectify(pre))}, e.err
		}
		return State{H: e.do(gorgonia.Tanh(pre))}, e.err
	case ops.LSTM:
		g := e.do(gorgonia.Add(gi, gh))
		i := e.do(gorgonia.Sigmoid(e.cols(g, 0, H)))
		f := e.do(gorgonia.Sigmoid(e.cols(g, H, 2*H)))
		gg := e.do(gorgonia.Tanh(e.cols(g, 2*H, 3*H)))
		o := e.do(gorgonia.Sigmoid(e.cols(g, 3*H, 4*H)))
		cn := e.do(gorgonia.Add(e.do(gorgonia.HadamardProd(f, s.C)), e.do(gorgonia.HadamardProd(i, gg))))
		hn := e.do(gorgonia.HadamardProd(o, e.do(gorgonia.Tanh(cn))))
		return State{H: hn, C: cn}, e.err
	case ops.GRU:
		r := e.do(gorgonia.Sigmoid(e.do(gorgonia.Add(e.cols(gi, 0, H), e.cols(gh, 0, H)))))
		z := e.do(gorgonia.Sigmoid(e.do(gorgonia.Add(e.cols(gi, H, 2*H), e.cols(gh, H, 2*H)))))
		n := e.do(gorgonia.Tanh(e.do(gorgonia.Add(e.cols(gi, 2*H, 3*H), e.do(gorgonia.HadamardProd(r, e.cols(gh, 2*H, 3*H)))))))
		// h' = (1 - z) n + z h = n + z (h - n)
		hn := e.do(gorgonia.Add(n, e.do(gorgonia.HadamardProd(z, e.do(gorgonia.Sub(s.H, n))))))
		return State{H: hn}, e.err
	}
	return State{}, fmt.Errorf("unknown cell kind %v", c.kind)
}

// primErr threads the first error through a chain of Gorgonia calls.
type primErr struct{ err error }

func (e *primErr) do(n *gorgonia.Node, err error) *gorgonia.Node {
	if e.err == nil && err != nil {
		e.err = err
	}
	if e.err != nil {
		return nil
	}
	return n
}

// linear is a Wᵀ + bias for a (B, K), W (N, K) and bias (N).
func (e *primErr) linear(a, w, bias *gorgonia.Node) *gorgonia.Node {
	if e.err != nil {
		return nil
	}
	wt := e.do(gorgonia.Transpose(w))
	y := e.do(gorgonia.Mul(a, wt))
	if e.err != nil {
		return nil
	}
	return e.do(gorgonia.BroadcastAdd(y, bias, nil, []byte{0}))
}

func (e *primErr) cols(x *gorgonia.Node, from, to int) *gorgonia.Node {
	if e.err != nil {
		return nil
	}
	// Not gorgonia.Slice: it hashes its bounds truncated to a byte, so the gate blocks of a cell
	// with 256 hidden units would all be merged into one node.
	return e.do(ops.Cols(x, from, to, ""))
}

// ZeroState returns a zero state for cell c and the given batch size: constant nodes named
// "<name>.h0" (and "<name>.c0" for an LSTM), which no run changes.
func ZeroState(b *graph.Builder, name string, c Cell, batch int) (State, error) {
	if b == nil || c == nil {
		return State{}, fmt.Errorf("%s: zero state needs a builder and a cell", name)
	}
	if batch < 1 {
		return State{}, fmt.Errorf("%s: zero state batch size %d must be positive", name, batch)
	}
	zero := func(suffix string) *gorgonia.Node {
		v := graph.NewTensor(b.Dtype(), []int{batch, c.HiddenSize()}, nil)
		return gorgonia.NewTensor(b.Graph(), b.Dtype(), 2, gorgonia.WithShape(batch, c.HiddenSize()),
			gorgonia.WithName(b.Name(name+suffix)), gorgonia.WithValue(v))
	}
	s := State{H: zero(".h0")}
	if c.HasCell() {
		s.C = zero(".c0")
	}
	return s, nil
}
