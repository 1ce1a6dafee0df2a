package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The row and column operations here replace Gorgonia's Concat and Slice, which hash their
// bounds truncated to a byte: blocks 256 rows or columns apart would merge, gradients included.

// ConcatRows adds the stack of the (B, N) nodes xs into one (T·B, N) node, row block t holding
// xs[t].
func ConcatRows(name string, xs ...*gorgonia.Node) (*gorgonia.Node, error) {
	s := xs[0].Shape()
	return Apply(rowsConcatOp{parts: len(xs), batch: s[0], width: s[1]}, name, xs...)
}

// rowsConcatOp stacks parts (B, N) inputs into a (parts·B, N) output.
type rowsConcatOp struct {
	base
	parts, batch, width int
}

func (op rowsConcatOp) Arity() int { return op.parts }
func (op rowsConcatOp) Type() hm.Type {
	ranks := make([]int, op.parts)
	for i := range ranks {
		ranks[i] = 2
	}
	return fnType(2, ranks...)
}
func (op rowsConcatOp) shapes() []tensor.Shape {
	s := make([]tensor.Shape, op.parts)
	for i := range s {
		s[i] = tensor.Shape{op.batch, op.width}
	}
	return s
}
func (op rowsConcatOp) outShape() tensor.Shape { return tensor.Shape{op.parts * op.batch, op.width} }
func (op rowsConcatOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op, op.shapes(), ds); err != nil {
		return nil, err
	}
	return op.outShape(), nil
}
func (op rowsConcatOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.concatRows{%d×(%d, %d)}", op.parts, op.batch, op.width)
}
func (op rowsConcatOp) Hashcode() uint32 { return hashOf(op) }
func (op rowsConcatOp) String() string   { return fmt.Sprintf("concatRows(%d)", op.parts) }

func (op rowsConcatOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) { return op.DoInto(nil, vs...) }

// DoInto copies the parts into out (parts·B, N).
func (op rowsConcatOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sizedInto(op, out, vs, op.shapes(), op.outShape())
	if err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts, rowsCopy[float32], rowsCopy[float64])
}

func rowsCopy[T Float](out []T, in [][]T) error {
	n := len(out) / len(in)
	for t, v := range in {
		copy(out[t*n:(t+1)*n], v)
	}
	return nil
}

func (op rowsConcatOp) DiffWRT(n int) []bool { return allTrue(n) }

// SymDiff gives each part its row block of the output gradient.
func (op rowsConcatOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != op.parts {
		return nil, fmt.Errorf("%v: symdiff with %d inputs, want %d", op, len(inputs), op.parts)
	}
	grads := make(gorgonia.Nodes, op.parts)
	for t := range grads {
		g, err := Apply(rowsPartOp{index: t, parts: op.parts, batch: op.batch, width: op.width}, "", grad)
		if err != nil {
			return nil, fmt.Errorf("%v: backward: %w", op, err)
		}
		grads[t] = g
	}
	return grads, nil
}

// rowsPartOp copies row block index, rows [index·B, (index+1)·B), of a (parts·B, N) matrix.
type rowsPartOp struct {
	base
	backward
	index, parts, batch, width int
}

func (op rowsPartOp) Arity() int             { return 1 }
func (op rowsPartOp) Type() hm.Type          { return fnType(2, 2) }
func (op rowsPartOp) inShape() tensor.Shape  { return tensor.Shape{op.parts * op.batch, op.width} }
func (op rowsPartOp) outShape() tensor.Shape { return tensor.Shape{op.batch, op.width} }
func (op rowsPartOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op, []tensor.Shape{op.inShape()}, ds); err != nil {
		return nil, err
	}
	return op.outShape(), nil
}
func (op rowsPartOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.rowsPart{%d of %d×(%d, %d)}", op.index, op.parts, op.batch, op.width)
}
func (op rowsPartOp) Hashcode() uint32 { return hashOf(op) }
func (op rowsPartOp) String() string   { return fmt.Sprintf("rows[%d of %d]", op.index, op.parts) }

func (op rowsPartOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) { return op.DoInto(nil, vs...) }

// DoInto copies the row block into out (B, N).
func (op rowsPartOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sizedInto(op, out, vs, []tensor.Shape{op.inShape()}, op.outShape())
	if err != nil {
		return nil, err
	}
	n := op.batch * op.width
	return computeInto(dt, out, ts,
		func(o []float32, in [][]float32) error { copy(o, in[0][op.index*n:(op.index+1)*n]); return nil },
		func(o []float64, in [][]float64) error { copy(o, in[0][op.index*n:(op.index+1)*n]); return nil })
}

// ConcatCols adds the join of the (B, N_i) nodes xs side by side into one (B, ΣN_i) node.
func ConcatCols(name string, xs ...*gorgonia.Node) (*gorgonia.Node, error) {
	op := colsConcatOp{batch: xs[0].Shape()[0], widths: make([]int, len(xs))}
	for i, x := range xs {
		op.widths[i] = x.Shape()[1]
	}
	return Apply(op, name, xs...)
}

// colsConcatOp joins (batch, widths[i]) inputs side by side.
type colsConcatOp struct {
	base
	batch  int
	widths []int
}

func (op colsConcatOp) total() int {
	n := 0
	for _, w := range op.widths {
		n += w
	}
	return n
}
func (op colsConcatOp) Arity() int { return len(op.widths) }
func (op colsConcatOp) Type() hm.Type {
	ranks := make([]int, len(op.widths))
	for i := range ranks {
		ranks[i] = 2
	}
	return fnType(2, ranks...)
}
func (op colsConcatOp) shapes() []tensor.Shape {
	s := make([]tensor.Shape, len(op.widths))
	for i, w := range op.widths {
		s[i] = tensor.Shape{op.batch, w}
	}
	return s
}
func (op colsConcatOp) outShape() tensor.Shape { return tensor.Shape{op.batch, op.total()} }
func (op colsConcatOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op, op.shapes(), ds); err != nil {
		return nil, err
	}
	return op.outShape(), nil
}
func (op colsConcatOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.concatCols{%d, %v}", op.batch, op.widths)
}
func (op colsConcatOp) Hashcode() uint32 { return hashOf(op) }
func (op colsConcatOp) String() string   { return fmt.Sprintf("concatCols%v", op.widths) }

func (op colsConcatOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) { return op.DoInto(nil, vs...) }

// DoInto copies each input into its columns of out.
func (op colsConcatOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sizedInto(op, out, vs, op.shapes(), op.outShape())
	if err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts, colsCopy[float32](op), colsCopy[float64](op))
}

func colsCopy[T Float](op colsConcatOp) func(out []T, in [][]T) error {
	return func(out []T, in [][]T) error {
		n := op.total()
		for r := 0; r < op.batch; r++ {
			at := r * n
			for i, w := range op.widths {
				copy(out[at:at+w], in[i][r*w:(r+1)*w])
				at += w
			}
		}
		return nil
	}
}

func (op colsConcatOp) DiffWRT(n int) []bool { return allTrue(n) }

// SymDiff gives each input its columns of the output gradient.
func (op colsConcatOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("%v: symdiff with %d inputs, want %d", op, len(inputs), op.Arity())
	}
	grads := make(gorgonia.Nodes, len(inputs))
	from := 0
	for i, w := range op.widths {
		g, err := Cols(grad, from, from+w, "")
		if err != nil {
			return nil, fmt.Errorf("%v: backward: %w", op, err)
		}
		grads[i] = g
		from += w
	}
	return grads, nil
}

// Cols adds the copy of columns [from, to) of x (B, N) to x's graph.
func Cols(x *gorgonia.Node, from, to int, name string) (*gorgonia.Node, error) {
	s := x.Shape()
	return Apply(colsOp{batch: s[0], width: s[1], from: from, to: to}, name, x)
}

// colsOp copies columns [from, to) of a (B, N) matrix; with scatter set it is its own
// backward, placing a (B, to-from) matrix into those columns of a zero (B, N) one.
type colsOp struct {
	base
	batch, width, from, to int
	scatter                bool
}

func (op colsOp) Arity() int    { return 1 }
func (op colsOp) Type() hm.Type { return fnType(2, 2) }
func (op colsOp) narrow() tensor.Shape {
	return tensor.Shape{op.batch, op.to - op.from}
}
func (op colsOp) wide() tensor.Shape { return tensor.Shape{op.batch, op.width} }
func (op colsOp) shapes() (in, out tensor.Shape) {
	if op.scatter {
		return op.narrow(), op.wide()
	}
	return op.wide(), op.narrow()
}
func (op colsOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	in, out := op.shapes()
	if err := checkShapes(op, []tensor.Shape{in}, ds); err != nil {
		return nil, err
	}
	return out, nil
}
func (op colsOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.cols{b=%d n=%d [%d, %d) scatter=%v}", op.batch, op.width, op.from, op.to, op.scatter)
}
func (op colsOp) Hashcode() uint32 { return hashOf(op) }
func (op colsOp) String() string {
	if op.scatter {
		return fmt.Sprintf("∂cols[%d:%d]", op.from, op.to)
	}
	return fmt.Sprintf("cols[%d:%d]", op.from, op.to)
}

func (op colsOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) { return op.DoInto(nil, vs...) }

// DoInto copies the columns into out.
func (op colsOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, outShape := op.shapes()
	ts, out, dt, err := sizedInto(op, out, vs, []tensor.Shape{in}, outShape)
	if err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts, copyCols[float32](op), copyCols[float64](op))
}

func copyCols[T Float](op colsOp) func(out []T, in [][]T) error {
	return func(out []T, in [][]T) error {
		src, w := in[0], op.to-op.from
		for b := 0; b < op.batch; b++ {
			if op.scatter { // each element written once: zeros around the copied columns
				row := out[b*op.width : (b+1)*op.width]
				clear(row[:op.from])
				copy(row[op.from:op.to], src[b*w:(b+1)*w])
				clear(row[op.to:])
			} else {
				copy(out[b*w:(b+1)*w], src[b*op.width+op.from:b*op.width+op.to])
			}
		}
		return nil
	}
}

func (op colsOp) DiffWRT(int) []bool { return []bool{!op.scatter} }

// SymDiff places the gradient back into its columns of a zero (B, N) matrix.
func (op colsOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if op.scatter {
		return nil, fmt.Errorf("%v: second derivatives are not implemented", op)
	}
	back := op
	back.scatter = true
	g, err := Apply(back, gradName(output, "x"), grad)
	if err != nil {
		return nil, fmt.Errorf("%v: backward: %w", op, err)
	}
	return gorgonia.Nodes{g}, nil
}
