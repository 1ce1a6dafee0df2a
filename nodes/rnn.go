package nodes

import (
	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// RNNCell is the Elman recurrent cell (PyTorch's nn.RNNCell): from the input x_t (B, In) and the
// previous hidden state h_{t-1} (B, H),
//
//	h_t = φ(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)
//
// with φ = tanh (or ReLU with the RNNReLU option). This is the course's
// H_t = φ(X_t W_xh + H_{t-1} W_hh + b) with W_xh = W_ihᵀ, W_hh = W_hhᵀ and PyTorch's two
// biases, whose sum is b.
//
// Parameters: "<name>.weight_ih" (H, In), "<name>.weight_hh" (H, H), "<name>.bias_ih" (H),
// "<name>.bias_hh" (H), all initialised from U(-1/√H, 1/√H) as PyTorch does.
type RNNCell struct{ cellBase }

// NewRNNCell creates an RNN cell with input width in and hidden width hidden in ps.
func NewRNNCell(ps *graph.Params, name string, in, hidden int, opts ...CellOption) (*RNNCell, error) {
	c, err := newCellBase(ps, ops.RNNTanh, name, in, hidden, opts)
	if err != nil {
		return nil, err
	}
	return &RNNCell{c}, nil
}

// Step maps x (B, In) and the state {H: h_{t-1}} to {H: h_t}. It adds one fused node to the
// graph (unless the cell was built with PrimitiveOps).
func (c *RNNCell) Step(b *graph.Builder, x *gorgonia.Node, s State) (State, error) {
	return c.step(b, x, s)
}

var _ Cell = (*RNNCell)(nil)
