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
	if err := checkConcat(b, name, "rows", xs, true); err != nil {
		return nil, err
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
	if err := checkConcat(b, name, "columns", xs, false); err != nil {
		return nil, err
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

// checkConcat checks the nodes xs that ConcatRows (what = "rows") or ConcatCols ("columns")
// joins: at least one, each a (batch, width) node of the graph's dtype, all with the rows of
// the first, and all with its width too when sameWidth.
func checkConcat(b *graph.Builder, name, what string, xs []*gorgonia.Node, sameWidth bool) error {
	if b == nil {
		return fmt.Errorf("%s: concat %s: nil builder", name, what)
	}
	if len(xs) == 0 {
		return fmt.Errorf("%s: concat %s: no nodes", name, what)
	}
	var batch, width int
	for i, x := range xs {
		switch {
		case x == nil:
			return fmt.Errorf("%s: concat %s: node %d is nil", name, what, i)
		case x.Dims() != 2:
			return fmt.Errorf("%s: concat %s: node %d must be (batch, width), has shape %v", name, what, i, x.Shape())
		case x.Dtype() != b.Dtype():
			return fmt.Errorf("%s: concat %s: node %d is %v, the graph is %v", name, what, i, x.Dtype(), b.Dtype())
		case i == 0:
			batch, width = x.Shape()[0], x.Shape()[1]
		case sameWidth && (x.Shape()[0] != batch || x.Shape()[1] != width):
			return fmt.Errorf("%s: concat %s: node %d has shape %v, node 0 (%d, %d)", name, what, i, x.Shape(), batch, width)
		case x.Shape()[0] != batch:
			return fmt.Errorf("%s: concat %s: node %d has %d rows, node 0 %d", name, what, i, x.Shape()[0], batch)
		}
	}
	return nil
}
