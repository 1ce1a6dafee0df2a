package nodes

import (
	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// LSTMCell is the long short-term memory cell (PyTorch's nn.LSTMCell). From the input x_t
// (B, In) and the previous state (h_{t-1}, c_{t-1}), both (B, H), with the gates in PyTorch's
// order i, f, g, o (row blocks of H in W_ih, W_hh, b_ih and b_hh):
//
//	i_t = σ(x_t W_iiᵀ + b_ii + h_{t-1} W_hiᵀ + b_hi)     input gate
//	f_t = σ(x_t W_ifᵀ + b_if + h_{t-1} W_hfᵀ + b_hf)     forget gate
//	g_t = tanh(x_t W_igᵀ + b_ig + h_{t-1} W_hgᵀ + b_hg)  candidate memory
//	o_t = σ(x_t W_ioᵀ + b_io + h_{t-1} W_hoᵀ + b_ho)     output gate
//	c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
//	h_t = o_t ⊙ tanh(c_t)
//
// The memory cell c is the path along which the gradient survives many steps: ∂c_t/∂c_{t-1}
// is f_t, with no weight matrix and no squashing in between.
//
// Parameters: "<name>.weight_ih" (4H, In), "<name>.weight_hh" (4H, H), "<name>.bias_ih" (4H),
// "<name>.bias_hh" (4H), all initialised from U(-1/√H, 1/√H) as PyTorch does; ForgetBias sets
// the forget gate's starting bias.
type LSTMCell struct{ cellBase }

// NewLSTMCell creates an LSTM cell with input width in and hidden width hidden in ps.
func NewLSTMCell(ps *graph.Params, name string, in, hidden int, opts ...CellOption) (*LSTMCell, error) {
	c, err := newCellBase(ps, ops.LSTM, name, in, hidden, opts)
	if err != nil {
		return nil, err
	}
	return &LSTMCell{c}, nil
}

// Step maps x (B, In) and the state {H: h_{t-1}, C: c_{t-1}} to {H: h_t, C: c_t}. The fused
// version adds one node computing h_t and c_t side by side, (B, 2H), and two nodes cutting
// them apart.
func (c *LSTMCell) Step(b *graph.Builder, x *gorgonia.Node, s State) (State, error) {
	return c.step(b, x, s)
}

var _ Cell = (*LSTMCell)(nil)
