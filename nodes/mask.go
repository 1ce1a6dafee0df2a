package nodes

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
)

// Masking for variable-length sequences in one batch. A padded step must change neither the
// state nor the loss: MaskState keeps the previous state on the rows whose mask is 0, and
// MaskRows zeroes the outputs of those rows. Both are one fused node each, with a hand-written
// backward.

// MaskState returns, row by row, the new state s where the mask is 1 and the previous state
// prev where it is 0:
//
//	H = m ⊙ s.H + (1 - m) ⊙ prev.H,   C likewise,
//
// with the mask m of shape (B) or (B, 1) broadcast over the H columns. The mask is data: it
// gets no gradient. Masks holding values other than 0 and 1 interpolate.
func MaskState(b *graph.Builder, name string, s, prev State, mask *gorgonia.Node) (State, error) {
	if s.H == nil || prev.H == nil {
		return State{}, fmt.Errorf("%s: mask state: nil hidden state", name)
	}
	if (s.C == nil) != (prev.C == nil) {
		return State{}, fmt.Errorf("%s: mask state: one state has a memory cell C and the other not", name)
	}
	h, err := maskBlend(b, name+".h", s.H, prev.H, mask)
	if err != nil {
		return State{}, err
	}
	out := State{H: h}
	if s.C != nil {
		if out.C, err = maskBlend(b, name+".c", s.C, prev.C, mask); err != nil {
			return State{}, err
		}
	}
	return out, nil
}

// MaskRows returns m ⊙ x for x (B, N) and the mask m (B) or (B, 1) broadcast over the columns:
// it zeroes the rows of padded steps (mask 0), or weights rows by any other mask value.
func MaskRows(b *graph.Builder, name string, x, mask *gorgonia.Node) (*gorgonia.Node, error) {
	return maskBlend(b, name, x, nil, mask)
}

func maskBlend(b *graph.Builder, name string, x, prev, mask *gorgonia.Node) (*gorgonia.Node, error) {
	if b == nil || x == nil || mask == nil {
		return nil, fmt.Errorf("%s: mask: nil builder, value or mask", name)
	}
	if x.Dims() != 2 {
		return nil, fmt.Errorf("%s: mask: value must be (batch, width), has shape %v", name, x.Shape())
	}
	batch := x.Shape()[0]
	if prev != nil && !prev.Shape().Eq(x.Shape()) {
		return nil, fmt.Errorf("%s: mask: previous value has shape %v, new value %v", name, prev.Shape(), x.Shape())
	}
	ms := mask.Shape()
	if !(ms.Eq(tensor.Shape{batch}) || ms.Eq(tensor.Shape{batch, 1})) {
		return nil, fmt.Errorf("%s: mask must be (%d) or (%d, 1) for a batch of %d, has shape %v", name, batch, batch, batch, ms)
	}
	if mask.Dtype() != x.Dtype() {
		return nil, fmt.Errorf("%s: mask is %v, value is %v", name, mask.Dtype(), x.Dtype())
	}
	y, err := ops.Mask(x, prev, mask, b.Name(name+".mask")) // (B, width)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return y, nil
}
