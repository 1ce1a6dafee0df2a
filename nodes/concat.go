package nodes

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// ConcatRows stacks T nodes of shape (B, N) into one (T·B, N) node whose row block t holds
// xs[t]: the time-major layout in which an output head reads every step of an unrolled
// network at once, as one matrix product over all T·B rows. It is one node (Gorgonia's Concat
// along axis 0 is the same function), and the gradient of each part is its row block of the
// output gradient.
func ConcatRows(b *graph.Builder, name string, xs []*gorgonia.Node) (*gorgonia.Node, error) {
	if b == nil {
		return nil, fmt.Errorf("%s: concat rows: nil builder", name)
	}
	if len(xs) == 0 {
		return nil, fmt.Errorf("%s: concat rows: no nodes", name)
	}
	var batch, width int
	for t, x := range xs {
		switch {
		case x == nil:
			return nil, fmt.Errorf("%s: concat rows: node %d is nil", name, t)
		case x.Dims() != 2:
			return nil, fmt.Errorf("%s: concat rows: node %d must be (batch, width), has shape %v", name, t, x.Shape())
		case x.Dtype() != b.Dtype():
			return nil, fmt.Errorf("%s: concat rows: node %d is %v, the graph is %v", name, t, x.Dtype(), b.Dtype())
		case t == 0:
			batch, width = x.Shape()[0], x.Shape()[1]
		case x.Shape()[0] != batch || x.Shape()[1] != width:
			return nil, fmt.Errorf("%s: concat rows: node %d has shape %v, node 0 (%d, %d)", name, t, x.Shape(), batch, width)
		}
	}
	y, err := ops.ConcatRows(b.Name(name), xs...) // (T·B, N)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return y, nil
}

// ConcatCols joins nodes of shapes (B, N_0), (B, N_1), ... side by side into one
// (B, N_0+N_1+...) node: how a bidirectional layer joins its forward and backward hidden
// states into each step's output. It is what Gorgonia's Concat along axis 1 computes, but its
// backward is right for any width: Gorgonia differentiates Concat with Slice ops that hash
// their bounds truncated to a byte, so the gradients of column blocks whose bounds agree
// modulo 256 (hidden sizes of 256, say) are merged into one.
func ConcatCols(b *graph.Builder, name string, xs []*gorgonia.Node) (*gorgonia.Node, error) {
	if b == nil {
		return nil, fmt.Errorf("%s: concat columns: nil builder", name)
	}
	if len(xs) == 0 {
		return nil, fmt.Errorf("%s: concat columns: no nodes", name)
	}
	var batch int
	for i, x := range xs {
		switch {
		case x == nil:
			return nil, fmt.Errorf("%s: concat columns: node %d is nil", name, i)
		case x.Dims() != 2:
			return nil, fmt.Errorf("%s: concat columns: node %d must be (batch, width), has shape %v", name, i, x.Shape())
		case x.Dtype() != b.Dtype():
			return nil, fmt.Errorf("%s: concat columns: node %d is %v, the graph is %v", name, i, x.Dtype(), b.Dtype())
		case i == 0:
			batch = x.Shape()[0]
		case x.Shape()[0] != batch:
			return nil, fmt.Errorf("%s: concat columns: node %d has %d rows, node 0 %d", name, i, x.Shape()[0], batch)
		}
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	y, err := ops.ConcatCols(b.Name(name), xs...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return y, nil
}
