package nodes

import (
	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// GRUCell is the gated recurrent unit in PyTorch's variant (nn.GRUCell). From the input x_t
// (B, In) and the previous hidden state h_{t-1} (B, H), with the gates in PyTorch's order
// r, z, n (row blocks of H in W_ih, W_hh, b_ih and b_hh):
//
//	r_t = σ(x_t W_irᵀ + b_ir + h_{t-1} W_hrᵀ + b_hr)              reset gate
//	z_t = σ(x_t W_izᵀ + b_iz + h_{t-1} W_hzᵀ + b_hz)              update gate
//	n_t = tanh(x_t W_inᵀ + b_in + r_t ⊙ (h_{t-1} W_hnᵀ + b_hn))   candidate state
//	h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
//
// The reset gate multiplies h_{t-1} W_hnᵀ + b_hn, after the product, as PyTorch and cuDNN do.
// Dive into Deep Learning (and Cho et al., 2014) write the candidate with the gate applied
// before it, n_t = tanh(x_t W_xh + (r_t ⊙ h_{t-1}) W_hh + b_h): the two differ, and weights
// trained in one form do not carry over to the other. Where z_t is near 1 the state is copied
// forward unchanged, which is the path that keeps the gradient alive.
//
// Parameters: "<name>.weight_ih" (3H, In), "<name>.weight_hh" (3H, H), "<name>.bias_ih" (3H),
// "<name>.bias_hh" (3H), all initialised from U(-1/√H, 1/√H) as PyTorch does.
type GRUCell struct{ cellBase }

// NewGRUCell creates a GRU cell with input width in and hidden width hidden in ps.
func NewGRUCell(ps *graph.Params, name string, in, hidden int, opts ...CellOption) (*GRUCell, error) {
	c, err := newCellBase(ps, ops.GRU, name, in, hidden, opts)
	if err != nil {
		return nil, err
	}
	return &GRUCell{c}, nil
}

// Step maps x (B, In) and the state {H: h_{t-1}} to {H: h_t}. The fused version adds one
// node.
func (c *GRUCell) Step(b *graph.Builder, x *gorgonia.Node, s State) (State, error) {
	return c.step(b, x, s)
}

var _ Cell = (*GRUCell)(nil)
