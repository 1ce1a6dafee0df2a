package nodes

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
)

// Masking for variable-length sequences in one batch. A padded step must change neither the
// state nor the loss: MaskState keeps the previous state on the rows whose mask is 0, and
// MaskRows zeroes the outputs of those rows. Both are one fused node each (Gorgonia's own
// broadcasting would add a reshape, a size and a repeat node per use, at every step), with a
// hand-written backward.

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
	batch, width := x.Shape()[0], x.Shape()[1]
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
	op := &maskOp{batch: batch, width: width, maskShape: ms.Clone(), hasPrev: prev != nil, src: cellStepOf(x)}
	args := []*gorgonia.Node{x}
	if prev != nil {
		args = append(args, prev)
	}
	args = append(args, mask)
	y, err := gorgonia.ApplyOpWithName(op, b.Name(name+".mask"), args...) // (B, width)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return y, nil
}

// maskOp computes m ⊙ x (+ (1 - m) ⊙ prev). Inputs: x (B, N), [prev (B, N)], m. src is the
// cell step that produced x, if any (graph-building information only: a masked state still
// continues its cell's chain).
type maskOp struct {
	batch, width int
	maskShape    tensor.Shape
	hasPrev      bool
	src          *cellStepOp
}

func (op *maskOp) Arity() int {
	if op.hasPrev {
		return 3
	}
	return 2
}

func (op *maskOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := gorgonia.TensorType{Dims: 2, Of: a}
	ts := []hm.Type{m}
	if op.hasPrev {
		ts = append(ts, m)
	}
	return hm.NewFnType(append(ts, gorgonia.TensorType{Dims: len(op.maskShape), Of: a}, m)...)
}

func (op *maskOp) shapes() []tensor.Shape {
	x := tensor.Shape{op.batch, op.width}
	s := []tensor.Shape{x}
	if op.hasPrev {
		s = append(s, x.Clone())
	}
	return append(s, op.maskShape)
}

func (op *maskOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, op.shapes(), ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.batch, op.width}, nil
}

func (op *maskOp) ReturnsPtr() bool     { return false }
func (op *maskOp) CallsExtern() bool    { return false }
func (op *maskOp) OverwritesInput() int { return -1 }
func (op *maskOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "cellMask{b=%d n=%d m=%v prev=%v}", op.batch, op.width, op.maskShape, op.hasPrev)
}
func (op *maskOp) Hashcode() uint32 { return cellHash(op) }
func (op *maskOp) String() string {
	if op.hasPrev {
		return "m⊙x+(1-m)⊙prev"
	}
	return "m⊙x"
}

func (op *maskOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, op.Arity())
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.batch, op.width)), vs...)
}

// DoInto computes the blend into out (B, N).
func (op *maskOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkCellValues(op, op.shapes(), vs, out, tensor.Shape{op.batch, op.width}); err != nil {
		return nil, err
	}
	return intoFloats(op, out, vs,
		func(o []float32, in [][]float32) { maskForward(op, o, in) },
		func(o []float64, in [][]float64) { maskForward(op, o, in) })
}

func maskForward[T cellFloat](op *maskOp, out []T, in [][]T) {
	x, m := in[0], in[len(in)-1]
	N := op.width
	for b := 0; b < op.batch; b++ {
		mb := m[b]
		row, xr := out[b*N:(b+1)*N], x[b*N:(b+1)*N]
		switch {
		case op.hasPrev:
			pr := in[1][b*N : (b+1)*N]
			for j := range row {
				row[j] = pr[j] + mb*(xr[j]-pr[j])
			}
		case mb == 0:
			clear(row) // a padded row is 0, never -0
		default:
			for j := range row {
				row[j] = mb * xr[j]
			}
		}
	}
}

// dims is the op without its graph-building information.
func (op *maskOp) dims() maskOp {
	return maskOp{batch: op.batch, width: op.width, maskShape: op.maskShape, hasPrev: op.hasPrev}
}

func (op *maskOp) DiffWRT(n int) []bool {
	w := make([]bool, n)
	for i := 0; i < n-1; i++ {
		w[i] = true
	}
	return w
}

// SymDiff: the gradient of x is m ⊙ g, that of prev (1 - m) ⊙ g; the mask gets none.
func (op *maskOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("%v: symdiff with %d inputs, want %d", op, len(inputs), op.Arity())
	}
	m := inputs[len(inputs)-1]
	grads := make(gorgonia.Nodes, len(inputs))
	var err error
	if grads[0], err = gorgonia.ApplyOp(&maskGradOp{op: op.dims(), prev: false}, m, grad); err != nil {
		return nil, fmt.Errorf("%v: backward: %w", op, err)
	}
	if op.hasPrev {
		if grads[1], err = gorgonia.ApplyOp(&maskGradOp{op: op.dims(), prev: true}, m, grad); err != nil {
			return nil, fmt.Errorf("%v: backward: %w", op, err)
		}
	}
	return grads, nil
}

// maskGradOp is maskOp's backward: from the mask and the output gradient g it returns m ⊙ g,
// or (1 - m) ⊙ g for the previous value.
type maskGradOp struct {
	op   maskOp
	prev bool
}

func (op *maskGradOp) Arity() int { return 2 }
func (op *maskGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := gorgonia.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(gorgonia.TensorType{Dims: len(op.op.maskShape), Of: a}, m, m)
}
func (op *maskGradOp) shapes() []tensor.Shape {
	return []tensor.Shape{op.op.maskShape, {op.op.batch, op.op.width}}
}
func (op *maskGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, op.shapes(), ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.op.batch, op.op.width}, nil
}
func (op *maskGradOp) ReturnsPtr() bool     { return false }
func (op *maskGradOp) CallsExtern() bool    { return false }
func (op *maskGradOp) OverwritesInput() int { return -1 }
func (op *maskGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "cellMaskGrad{prev=%v}", op.prev)
	op.op.WriteHash(h)
}
func (op *maskGradOp) Hashcode() uint32 { return cellHash(op) }
func (op *maskGradOp) String() string {
	if op.prev {
		return "(1-m)⊙g"
	}
	return "m⊙g"
}

func (op *maskGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, 2)
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.op.batch, op.op.width)), vs...)
}

// DoInto computes the gradient into out (B, N).
func (op *maskGradOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkCellValues(op, op.shapes(), vs, out, tensor.Shape{op.op.batch, op.op.width}); err != nil {
		return nil, err
	}
	var err error
	switch o := out.Data().(type) {
	case []float32:
		err = maskBackward(op, o, vs)
	case []float64:
		err = maskBackward(op, o, vs)
	default:
		err = fmt.Errorf("%v: unsupported dtype %v", op, out.Dtype())
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func maskBackward[T cellFloat](op *maskGradOp, out []T, vs []gorgonia.Value) error {
	in, err := cellSlices[T](op, vs)
	if err != nil {
		return err
	}
	m, g := in[0], in[1]
	N := op.op.width
	for b := 0; b < op.op.batch; b++ {
		s := m[b]
		if op.prev {
			s = 1 - s
		}
		row, gr := out[b*N:(b+1)*N], g[b*N:(b+1)*N]
		for j := range row {
			row[j] = s * gr[j]
		}
	}
	return nil
}
