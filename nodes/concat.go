package nodes

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
)

// ConcatRows stacks T nodes of shape (B, N) into one (T·B, N) node whose row block t holds
// xs[t]: the time-major layout in which an output head reads every step of an unrolled
// network at once, as one matrix product over all T·B rows. It is one node (Gorgonia's Concat
// along axis 0 is the same function), and the gradient of each part is a row block of the
// output gradient that the fused cells read in place.
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
	y, err := gorgonia.ApplyOpWithName(&rowsConcatOp{parts: len(xs), batch: batch, width: width}, b.Name(name), xs...) // (T·B, N)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return y, nil
}

// rowsConcatOp stacks parts (B, N) inputs into a (parts·B, N) output.
type rowsConcatOp struct{ parts, batch, width int }

func (op *rowsConcatOp) Arity() int { return op.parts }
func (op *rowsConcatOp) Type() hm.Type {
	m := gorgonia.TensorType{Dims: 2, Of: hm.TypeVariable('a')}
	ts := make([]hm.Type, op.parts+1)
	for i := range ts {
		ts[i] = m
	}
	return hm.NewFnType(ts...)
}
func (op *rowsConcatOp) shapes() []tensor.Shape {
	s := make([]tensor.Shape, op.parts)
	for i := range s {
		s[i] = tensor.Shape{op.batch, op.width}
	}
	return s
}
func (op *rowsConcatOp) outShape() tensor.Shape { return tensor.Shape{op.parts * op.batch, op.width} }
func (op *rowsConcatOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, op.shapes(), ds); err != nil {
		return nil, err
	}
	return op.outShape(), nil
}
func (op *rowsConcatOp) ReturnsPtr() bool     { return false }
func (op *rowsConcatOp) CallsExtern() bool    { return false }
func (op *rowsConcatOp) OverwritesInput() int { return -1 }
func (op *rowsConcatOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "concatRows{%d×(%d, %d)}", op.parts, op.batch, op.width)
}
func (op *rowsConcatOp) Hashcode() uint32 { return cellHash(op) }
func (op *rowsConcatOp) String() string   { return fmt.Sprintf("concatRows(%d)", op.parts) }

func (op *rowsConcatOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, op.parts)
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.outShape()...)), vs...)
}

// DoInto copies the parts into out (parts·B, N).
func (op *rowsConcatOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkCellValues(op, op.shapes(), vs, out, op.outShape()); err != nil {
		return nil, err
	}
	return intoFloats(op, out, vs, rowsCopy[float32], rowsCopy[float64])
}

func rowsCopy[T cellFloat](out []T, in [][]T) {
	n := len(out) / len(in)
	for t, v := range in {
		copy(out[t*n:(t+1)*n], v)
	}
}

func (op *rowsConcatOp) DiffWRT(n int) []bool {
	w := make([]bool, n)
	for i := range w {
		w[i] = true
	}
	return w
}

// SymDiff gives each part its row block of the output gradient.
func (op *rowsConcatOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != op.parts {
		return nil, fmt.Errorf("%v: symdiff with %d inputs, want %d", op, len(inputs), op.parts)
	}
	grads := make(gorgonia.Nodes, op.parts)
	for t := range grads {
		g, err := gorgonia.ApplyOp(&rowsPartOp{index: t, parts: op.parts, batch: op.batch, width: op.width}, grad)
		if err != nil {
			return nil, fmt.Errorf("%v: backward: %w", op, err)
		}
		grads[t] = g
	}
	return grads, nil
}

// rowsPartOp copies row block index, rows [index·B, (index+1)·B), of a (parts·B, N) matrix.
type rowsPartOp struct{ index, parts, batch, width int }

func (op *rowsPartOp) Arity() int { return 1 }
func (op *rowsPartOp) Type() hm.Type {
	m := gorgonia.TensorType{Dims: 2, Of: hm.TypeVariable('a')}
	return hm.NewFnType(m, m)
}
func (op *rowsPartOp) inShape() tensor.Shape { return tensor.Shape{op.parts * op.batch, op.width} }
func (op *rowsPartOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, []tensor.Shape{op.inShape()}, ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.batch, op.width}, nil
}
func (op *rowsPartOp) ReturnsPtr() bool     { return false }
func (op *rowsPartOp) CallsExtern() bool    { return false }
func (op *rowsPartOp) OverwritesInput() int { return -1 }
func (op *rowsPartOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "rowsPart{%d of %d×(%d, %d)}", op.index, op.parts, op.batch, op.width)
}
func (op *rowsPartOp) Hashcode() uint32 { return cellHash(op) }
func (op *rowsPartOp) String() string   { return fmt.Sprintf("rows[%d of %d]", op.index, op.parts) }

func (op *rowsPartOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, 1)
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.batch, op.width)), vs...)
}

// DoInto copies the row block into out (B, N).
func (op *rowsPartOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkCellValues(op, []tensor.Shape{op.inShape()}, vs, out, tensor.Shape{op.batch, op.width}); err != nil {
		return nil, err
	}
	n := op.batch * op.width
	return intoFloats(op, out, vs,
		func(o []float32, in [][]float32) { copy(o, in[0][op.index*n:(op.index+1)*n]) },
		func(o []float64, in [][]float64) { copy(o, in[0][op.index*n:(op.index+1)*n]) })
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
	op := &colsConcatOp{widths: make([]int, len(xs))}
	for i, x := range xs {
		switch {
		case x == nil:
			return nil, fmt.Errorf("%s: concat columns: node %d is nil", name, i)
		case x.Dims() != 2:
			return nil, fmt.Errorf("%s: concat columns: node %d must be (batch, width), has shape %v", name, i, x.Shape())
		case x.Dtype() != b.Dtype():
			return nil, fmt.Errorf("%s: concat columns: node %d is %v, the graph is %v", name, i, x.Dtype(), b.Dtype())
		case i == 0:
			op.batch = x.Shape()[0]
		case x.Shape()[0] != op.batch:
			return nil, fmt.Errorf("%s: concat columns: node %d has %d rows, node 0 %d", name, i, x.Shape()[0], op.batch)
		}
		op.widths[i] = x.Shape()[1]
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	y, err := gorgonia.ApplyOpWithName(op, b.Name(name), xs...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return y, nil
}

// colsConcatOp joins (batch, widths[i]) inputs side by side.
type colsConcatOp struct {
	batch  int
	widths []int
}

func (op *colsConcatOp) total() int {
	n := 0
	for _, w := range op.widths {
		n += w
	}
	return n
}
func (op *colsConcatOp) Arity() int { return len(op.widths) }
func (op *colsConcatOp) Type() hm.Type {
	m := gorgonia.TensorType{Dims: 2, Of: hm.TypeVariable('a')}
	ts := make([]hm.Type, len(op.widths)+1)
	for i := range ts {
		ts[i] = m
	}
	return hm.NewFnType(ts...)
}
func (op *colsConcatOp) shapes() []tensor.Shape {
	s := make([]tensor.Shape, len(op.widths))
	for i, w := range op.widths {
		s[i] = tensor.Shape{op.batch, w}
	}
	return s
}
func (op *colsConcatOp) outShape() tensor.Shape { return tensor.Shape{op.batch, op.total()} }
func (op *colsConcatOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, op.shapes(), ds); err != nil {
		return nil, err
	}
	return op.outShape(), nil
}
func (op *colsConcatOp) ReturnsPtr() bool     { return false }
func (op *colsConcatOp) CallsExtern() bool    { return false }
func (op *colsConcatOp) OverwritesInput() int { return -1 }
func (op *colsConcatOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "concatCols{%d, %v}", op.batch, op.widths)
}
func (op *colsConcatOp) Hashcode() uint32 { return cellHash(op) }
func (op *colsConcatOp) String() string   { return fmt.Sprintf("concatCols%v", op.widths) }

func (op *colsConcatOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, op.Arity())
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.outShape()...)), vs...)
}

// DoInto copies each input into its columns of out.
func (op *colsConcatOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkCellValues(op, op.shapes(), vs, out, op.outShape()); err != nil {
		return nil, err
	}
	return intoFloats(op, out, vs,
		func(o []float32, in [][]float32) { colsCopy(op, o, in) },
		func(o []float64, in [][]float64) { colsCopy(op, o, in) })
}

func colsCopy[T cellFloat](op *colsConcatOp, out []T, in [][]T) {
	n := op.total()
	for r := 0; r < op.batch; r++ {
		at := r * n
		for i, w := range op.widths {
			copy(out[at:at+w], in[i][r*w:(r+1)*w])
			at += w
		}
	}
}

func (op *colsConcatOp) DiffWRT(n int) []bool {
	w := make([]bool, n)
	for i := range w {
		w[i] = true
	}
	return w
}

// SymDiff gives each input its columns of the output gradient.
func (op *colsConcatOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("%v: symdiff with %d inputs, want %d", op, len(inputs), op.Arity())
	}
	grads := make(gorgonia.Nodes, len(inputs))
	from := 0
	for i, w := range op.widths {
		g, err := gorgonia.ApplyOp(&cellColsOp{batch: op.batch, width: op.total(), from: from, to: from + w}, grad)
		if err != nil {
			return nil, fmt.Errorf("%v: backward: %w", op, err)
		}
		grads[i] = g
		from += w
	}
	return grads, nil
}
