package rnn

import (
	"fmt"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes"
)

// Kind is the recurrent cell a network is made of.
type Kind int

const (
	// RNN is the Elman cell, h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh) (nodes.RNNCell).
	RNN Kind = iota
	// LSTM is the long short-term memory cell (nodes.LSTMCell).
	LSTM
	// GRU is the gated recurrent unit in PyTorch's variant (nodes.GRUCell).
	GRU
)

// Kinds returns the three kinds in the order the demos show them.
func Kinds() []Kind { return []Kind{RNN, LSTM, GRU} }

func (k Kind) String() string {
	switch k {
	case LSTM:
		return "lstm"
	case GRU:
		return "gru"
	}
	return "rnn"
}

// MarshalText writes the kind as String does, so that it reads "lstm" in JSON.
func (k Kind) MarshalText() ([]byte, error) {
	if k != RNN && k != LSTM && k != GRU {
		return nil, fmt.Errorf("unknown cell kind %d", int(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText reads a kind as ParseKind does.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// ParseKind reads "rnn", "lstm" or "gru" (in any case).
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if strings.EqualFold(s, k.String()) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown recurrent cell %q (rnn, lstm or gru)", s)
}

// Option configures NewRecurrent and NewNet. The options that shape the recurrent layers
// (Layers, Bidirectional, Dropout, ReLU, ForgetBias, PrimitiveOps) apply to both; the others
// (Embed, Readout, Loss) apply to a Net only and are an error for NewRecurrent.
type Option func(*config)

type config struct {
	layers        int
	bidirectional bool
	dropout       float64
	relu          bool
	forgetBias    float64
	hasForgetBias bool
	primitive     bool

	// Net only.
	netOnly []string
	vocab   int
	masked  bool
	readout Readout
	loss    Loss
}

func defaults() config { return config{layers: 1} }

// Layers stacks n recurrent layers (PyTorch's num_layers): layer l+1 reads layer l's outputs.
func Layers(n int) Option { return func(c *config) { c.layers = n } }

// Bidirectional adds to every layer a second cell that reads the sequence backwards; the
// layer's output at step t is the two cells' hidden states side by side, (B, 2H).
func Bidirectional() Option { return func(c *config) { c.bidirectional = true } }

// Dropout applies dropout with probability p to the outputs of every layer but the last, at
// every step, in training only (PyTorch's dropout argument of nn.LSTM).
func Dropout(p float64) Option { return func(c *config) { c.dropout = p } }

// ReLU makes RNN cells use ReLU instead of tanh.
func ReLU() Option { return func(c *config) { c.relu = true } }

// ForgetBias starts every LSTM cell's forget gate at total bias v (see nodes.ForgetBias).
func ForgetBias(v float64) Option {
	return func(c *config) { c.forgetBias, c.hasForgetBias = v, true }
}

// PrimitiveOps builds the cells from Gorgonia's own operations instead of the fused step ops
// (see nodes.PrimitiveOps): the reference, with about four times as many graph nodes.
func PrimitiveOps() Option { return func(c *config) { c.primitive = true } }

// Recurrent is a stack of recurrent layers, optionally bidirectional: PyTorch's nn.RNN, nn.LSTM
// and nn.GRU, unrolled over time into the graph. With x_t the input at step t and h^l_t the
// state of layer l,
//
//	h^0_t = cell^0(x_t, h^0_{t-1}),   h^l_t = cell^l(dropout(h^{l-1}_t), h^l_{t-1}),
//
// and the output at step t is the top layer's h_t. A bidirectional layer also runs a second
// cell from t = T-1 down to 0 and puts both hidden states side by side. Unrolling calls each
// cell's Step once per time step: the graph is the network drawn through time, and its
// gradient is backpropagation through time.
//
// Parameters are named as PyTorch's nn.LSTM names them inside a module called name:
// "<name>.weight_ih_l0", "<name>.weight_hh_l0", "<name>.bias_ih_l0", "<name>.bias_hh_l0",
// "<name>.weight_ih_l0_reverse", ..., "<name>.weight_ih_l1", ..., so a state_dict exchanges
// weights both ways.
type Recurrent struct {
	name          string
	kind          Kind
	in, hidden    int
	layers        int
	bidirectional bool
	dropout       *nodes.Dropout
	cells         [][]nodes.Cell // [layer][direction]
}

// NewRecurrent creates the layers of kind in ps: in input features, hidden features per
// direction.
func NewRecurrent(ps *graph.Params, name string, kind Kind, in, hidden int, opts ...Option) (*Recurrent, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.netOnly) > 0 {
		return nil, fmt.Errorf("%s: option %s applies to a Net only", name, cfg.netOnly[0])
	}
	return newRecurrent(ps, name, kind, in, hidden, cfg)
}

func newRecurrent(ps *graph.Params, name string, kind Kind, in, hidden int, cfg config) (*Recurrent, error) {
	switch {
	case kind != RNN && kind != LSTM && kind != GRU:
		return nil, fmt.Errorf("%s: unknown cell kind %d", name, int(kind))
	case in < 1 || hidden < 1:
		return nil, fmt.Errorf("%s: sizes must be positive, got input %d, hidden %d", name, in, hidden)
	case cfg.layers < 1:
		return nil, fmt.Errorf("%s: %d layers, need at least 1", name, cfg.layers)
	case cfg.relu && kind != RNN:
		return nil, fmt.Errorf("%s: the ReLU nonlinearity applies to RNN cells only, not %v", name, kind)
	case cfg.hasForgetBias && kind != LSTM:
		return nil, fmt.Errorf("%s: a forget-gate bias applies to LSTM cells only, not %v", name, kind)
	}
	r := &Recurrent{name: name, kind: kind, in: in, hidden: hidden, layers: cfg.layers, bidirectional: cfg.bidirectional}
	if cfg.dropout != 0 {
		d, err := nodes.NewDropout(name+".dropout", cfg.dropout)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		r.dropout = d
	}
	var cellOpts []nodes.CellOption
	if cfg.relu {
		cellOpts = append(cellOpts, nodes.RNNReLU())
	}
	if cfg.hasForgetBias {
		cellOpts = append(cellOpts, nodes.ForgetBias(cfg.forgetBias))
	}
	if cfg.primitive {
		cellOpts = append(cellOpts, nodes.PrimitiveOps())
	}
	for l := 0; l < r.layers; l++ {
		width := in
		if l > 0 {
			width = hidden * r.Directions()
		}
		var row []nodes.Cell
		for d := 0; d < r.Directions(); d++ {
			opts := append([]nodes.CellOption{nodes.ParamSuffix(LayerSuffix(l, d == 1))}, cellOpts...)
			var c nodes.Cell
			var err error
			switch kind {
			case RNN:
				c, err = nodes.NewRNNCell(ps, name, width, hidden, opts...)
			case LSTM:
				c, err = nodes.NewLSTMCell(ps, name, width, hidden, opts...)
			case GRU:
				c, err = nodes.NewGRUCell(ps, name, width, hidden, opts...)
			}
			if err != nil {
				return nil, err
			}
			row = append(row, c)
		}
		r.cells = append(r.cells, row)
	}
	return r, nil
}

// LayerSuffix is PyTorch's suffix for the parameters of layer l: "_l0", or "_l0_reverse" for
// the backward direction of a bidirectional layer.
func LayerSuffix(l int, reverse bool) string {
	if reverse {
		return fmt.Sprintf("_l%d_reverse", l)
	}
	return fmt.Sprintf("_l%d", l)
}

// Name is the network's name, the prefix of its parameters.
func (r *Recurrent) Name() string { return r.name }

// Kind is the cell kind.
func (r *Recurrent) Kind() Kind { return r.kind }

// InputSize is the width of the input at each step.
func (r *Recurrent) InputSize() int { return r.in }

// HiddenSize is the width of one direction's hidden state.
func (r *Recurrent) HiddenSize() int { return r.hidden }

// OutputSize is the width of the output at each step: HiddenSize times Directions.
func (r *Recurrent) OutputSize() int { return r.hidden * r.Directions() }

// Layers is the number of stacked layers.
func (r *Recurrent) Layers() int { return r.layers }

// Directions is 2 for a bidirectional network and 1 otherwise.
func (r *Recurrent) Directions() int {
	if r.bidirectional {
		return 2
	}
	return 1
}

// Cells lists the cells in PyTorch's h_n order: index l·Directions + d.
func (r *Recurrent) Cells() []nodes.Cell {
	var out []nodes.Cell
	for _, row := range r.cells {
		out = append(out, row...)
	}
	return out
}

// label names layer l and direction d in errors and node names: "lstm_l1_reverse".
func (r *Recurrent) label(l, d int) string { return r.name + LayerSuffix(l, d == 1) }

// Unrolled is a network unrolled over T steps.
type Unrolled struct {
	// Outputs are the top layer's outputs, one (B, OutputSize) node per step (both directions
	// side by side, forward first); with a mask they are zero at padded steps.
	Outputs []*gorgonia.Node
	// Initial and Final are the states before the first and after the last step, one per
	// layer and direction (index l·Directions + d, PyTorch's h_n order). The backward
	// direction's final state is the one after it has read step 0.
	Initial, Final []nodes.State
	// States[l·Directions + d][t] is the state of that layer and direction once it has read
	// step t: the hidden states whose gradients backpropagation through time follows.
	States [][]nodes.State
}

// Forward unrolls the network over xs, one (B, InputSize) node per step (T = len(xs)).
//
// init holds the initial state, one per layer and direction in PyTorch's h_n order (index
// l·Directions + d); nil starts from zero. mask is nil, or one node per step of shape (B) or
// (B, 1) holding 1 for real steps and 0 for padding: on a padded step every layer keeps its
// previous state and the outputs are zero, so a batch can hold sequences of different
// lengths padded at the end, and the final state is each sequence's state after its last
// real step.
func (r *Recurrent) Forward(b *graph.Builder, xs []*gorgonia.Node, init []nodes.State, mask []*gorgonia.Node) (*Unrolled, error) {
	return r.forward(b, xs, init, mask, nil)
}

// stateHook may replace the state of layer l, direction d once it has read step t (t = -1 for
// the initial state) by another node computed from it; the unrolled graph goes on from the
// replacement. The gradient-flow probe adds a zero input to the hidden states this way, since
// Gorgonia differentiates only with respect to input nodes.
type stateHook func(l, d, t int, s nodes.State) (nodes.State, error)

func (r *Recurrent) forward(b *graph.Builder, xs []*gorgonia.Node, init []nodes.State, mask []*gorgonia.Node, hook stateHook) (*Unrolled, error) {
	batch, err := r.check(b, xs, init, mask)
	if err != nil {
		return nil, err
	}
	T, D := len(xs), r.Directions()
	u := &Unrolled{Initial: make([]nodes.State, r.layers*D), Final: make([]nodes.State, r.layers*D), States: make([][]nodes.State, r.layers*D)}
	in := xs
	for l := 0; l < r.layers; l++ {
		hs := make([][]*gorgonia.Node, D)
		for d := 0; d < D; d++ {
			if hs[d], err = r.direction(b, l, d, in, init, batch, mask, hook, u); err != nil {
				return nil, err
			}
		}
		out := hs[0]
		if D == 2 {
			out = make([]*gorgonia.Node, T)
			for t := range out {
				name := fmt.Sprintf("%s_l%d.out%d", r.name, l, t)
				if out[t], err = nodes.ConcatCols(b, name, []*gorgonia.Node{hs[0][t], hs[1][t]}); err != nil { // (B, 2H)
					return nil, fmt.Errorf("%s: layer %d step %d: %w", r.name, l, t, err)
				}
			}
		}
		if l < r.layers-1 && r.dropout != nil {
			for t := range out {
				if out[t], err = r.dropout.Forward(b, out[t]); err != nil {
					return nil, err
				}
			}
		}
		in = out
	}
	u.Outputs = in
	if mask != nil {
		u.Outputs = make([]*gorgonia.Node, T)
		for t := range in {
			if u.Outputs[t], err = nodes.MaskRows(b, r.name+".out", in[t], mask[t]); err != nil {
				return nil, err
			}
		}
	}
	return u, nil
}

// direction unrolls the cell of layer l in direction d (1: backward in time) over the inputs in,
// from its initial state (init's, or zero), records its states in u, and returns its hidden
// states in time order.
func (r *Recurrent) direction(b *graph.Builder, l, d int, in []*gorgonia.Node, init []nodes.State, batch int,
	mask []*gorgonia.Node, hook stateHook, u *Unrolled) ([]*gorgonia.Node, error) {
	T, k := len(in), l*r.Directions()+d
	cell, lab := r.cells[l][d], r.label(l, d)
	s := nodes.State{}
	var err error
	if init != nil {
		s = init[k]
	} else if s, err = nodes.ZeroState(b, lab, cell, batch); err != nil {
		return nil, err
	}
	if hook != nil {
		if s, err = hook(l, d, -1, s); err != nil {
			return nil, err
		}
	}
	u.Initial[k] = s
	u.States[k] = make([]nodes.State, T)
	hs := make([]*gorgonia.Node, T)
	for i := 0; i < T; i++ {
		t := i
		if d == 1 {
			t = T - 1 - i
		}
		next, err := cell.Step(b, in[t], s)
		if err != nil {
			return nil, fmt.Errorf("%s: step %d: %w", r.name, t, err)
		}
		if mask != nil {
			if next, err = nodes.MaskState(b, lab, next, s, mask[t]); err != nil {
				return nil, fmt.Errorf("%s: step %d: %w", r.name, t, err)
			}
		}
		if hook != nil {
			if next, err = hook(l, d, t, next); err != nil {
				return nil, err
			}
		}
		s = next
		u.States[k][t] = s
		hs[t] = s.H
	}
	u.Final[k] = s
	return hs, nil
}

// check validates Forward's arguments and returns the batch size.
func (r *Recurrent) check(b *graph.Builder, xs []*gorgonia.Node, init []nodes.State, mask []*gorgonia.Node) (int, error) {
	if b == nil {
		return 0, fmt.Errorf("%s: nil builder", r.name)
	}
	if len(xs) == 0 {
		return 0, fmt.Errorf("%s: empty sequence: no time steps to unroll", r.name)
	}
	batch := 0
	for t, x := range xs {
		switch {
		case x == nil:
			return 0, fmt.Errorf("%s: step %d: nil input", r.name, t)
		case x.Dims() != 2:
			return 0, fmt.Errorf("%s: step %d: input must be (batch, %d), has shape %v", r.name, t, r.in, x.Shape())
		case x.Shape()[1] != r.in:
			return 0, fmt.Errorf("%s: expects %d input features, step %d input has %d", r.name, r.in, t, x.Shape()[1])
		}
		if t == 0 {
			batch = x.Shape()[0]
		} else if x.Shape()[0] != batch {
			return 0, fmt.Errorf("%s: step %d input has batch size %d, step 0 has %d", r.name, t, x.Shape()[0], batch)
		}
	}
	if init != nil && len(init) != r.layers*r.Directions() {
		return 0, fmt.Errorf("%s: %d initial states, want %d: one per layer and direction", r.name, len(init), r.layers*r.Directions())
	}
	if mask != nil {
		if len(mask) != len(xs) {
			return 0, fmt.Errorf("%s: mask has %d steps, the sequence %d", r.name, len(mask), len(xs))
		}
		for t, m := range mask {
			if m == nil {
				return 0, fmt.Errorf("%s: step %d: nil mask", r.name, t)
			}
			if s := m.Shape(); !(s.Eq(tensor.Shape{batch}) || s.Eq(tensor.Shape{batch, 1})) {
				return 0, fmt.Errorf("%s: step %d: mask must be (%d) or (%d, 1), has shape %v", r.name, t, batch, batch, s)
			}
		}
	}
	return batch, nil
}
