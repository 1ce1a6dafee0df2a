package rnn

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// stackRows stacks k nodes of shape (B, N) into one node of shape (k·B, N) whose row block i,
// rows [i·B, (i+1)·B), is xs[i]: what gorgonia.Concat(0, xs...) computes, with a backward
// that stays right however many rows there are.
//
// Gorgonia's Concat differentiates with one Slice of the output gradient per input, and
// Gorgonia's Slice op hashes its start and end truncated to a byte (sliceOp.WriteHash writes
// byte(op.Start()), byte(op.End())). Two slices of the same gradient whose bounds agree modulo
// 256, rows [0, 32) and [256, 288) say, therefore hash alike, and Gorgonia merges nodes that
// hash alike: the ninth step of a batch of 32 gets the first step's gradient. Any concatenation
// of more than 256 rows (or columns) is hit; here both ops hash every attribute in full.
func stackRows(xs []*gorgonia.Node) (*gorgonia.Node, error) {
	if len(xs) == 0 {
		return nil, fmt.Errorf("stack rows: no nodes")
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	s := xs[0].Shape()
	if len(s) != 2 {
		return nil, fmt.Errorf("stack rows: node 0 must be (batch, width), has shape %v", s)
	}
	for i, x := range xs {
		if !x.Shape().Eq(s) {
			return nil, fmt.Errorf("stack rows: node %d has shape %v, node 0 %v", i, x.Shape(), s)
		}
		if x.Dtype() != xs[0].Dtype() {
			return nil, fmt.Errorf("stack rows: node %d is %v, node 0 %v", i, x.Dtype(), xs[0].Dtype())
		}
	}
	return gorgonia.ApplyOp(stackRowsOp{k: len(xs), rows: s[0], cols: s[1]}, xs...)
}

// stackRowsOp stacks k (rows, cols) matrices into one (k·rows, cols) matrix.
type stackRowsOp struct{ k, rows, cols int }

func (op stackRowsOp) Arity() int { return op.k }
func (op stackRowsOp) Type() hm.Type {
	t := gorgonia.TensorType{Dims: 2, Of: hm.TypeVariable('a')}
	ts := make([]hm.Type, op.k+1)
	for i := range ts {
		ts[i] = t
	}
	return hm.NewFnType(ts...)
}
func (op stackRowsOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if len(ds) != op.k {
		return nil, fmt.Errorf("%v: %d inputs, want %d", op, len(ds), op.k)
	}
	return tensor.Shape{op.k * op.rows, op.cols}, nil
}
func (op stackRowsOp) ReturnsPtr() bool     { return false }
func (op stackRowsOp) CallsExtern() bool    { return false }
func (op stackRowsOp) OverwritesInput() int { return -1 }
func (op stackRowsOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.stackrows k=%d rows=%d cols=%d", op.k, op.rows, op.cols)
}
func (op stackRowsOp) Hashcode() uint32 { return hashOp(op) }
func (op stackRowsOp) String() string {
	return fmt.Sprintf("StackRows(%d×(%d, %d))", op.k, op.rows, op.cols)
}

func (op stackRowsOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	if len(vs) != op.k {
		return nil, fmt.Errorf("%v: %d inputs, want %d", op, len(vs), op.k)
	}
	out := tensor.New(tensor.Of(vs[0].Dtype()), tensor.WithShape(op.k*op.rows, op.cols))
	return op.DoInto(out, vs...)
}

// DoInto copies the inputs into out, block after block.
func (op stackRowsOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	n := op.rows * op.cols
	for i, v := range vs {
		src, err := denseValue(v, n)
		if err != nil {
			return nil, fmt.Errorf("%v: input %d: %w", op, i, err)
		}
		if err := copyBlock(out, src, i*n, 0, n); err != nil {
			return nil, fmt.Errorf("%v: input %d: %w", op, i, err)
		}
	}
	return out, nil
}

func (op stackRowsOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff gives input i the row block i of the output gradient.
func (op stackRowsOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	ds := make(gorgonia.Nodes, len(in))
	for i := range in {
		var err error
		if ds[i], err = gorgonia.ApplyOp(rowBlockOp{block: i, k: op.k, rows: op.rows, cols: op.cols}, grad); err != nil {
			return nil, err
		}
	}
	return ds, nil
}

// rowBlockOp takes row block `block` (rows [block·rows, (block+1)·rows)) of a (k·rows, cols)
// matrix: the gradient of one input of stackRowsOp.
type rowBlockOp struct{ block, k, rows, cols int }

func (op rowBlockOp) Arity() int { return 1 }
func (op rowBlockOp) Type() hm.Type {
	t := gorgonia.TensorType{Dims: 2, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t)
}
func (op rowBlockOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.rows, op.cols}, nil
}
func (op rowBlockOp) ReturnsPtr() bool     { return false }
func (op rowBlockOp) CallsExtern() bool    { return false }
func (op rowBlockOp) OverwritesInput() int { return -1 }
func (op rowBlockOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.rowblock block=%d k=%d rows=%d cols=%d", op.block, op.k, op.rows, op.cols)
}
func (op rowBlockOp) Hashcode() uint32 { return hashOp(op) }
func (op rowBlockOp) String() string {
	return fmt.Sprintf("RowBlock(%d of %d×(%d, %d))", op.block, op.k, op.rows, op.cols)
}
func (op rowBlockOp) DiffWRT(n int) []bool { return make([]bool, n) }
func (op rowBlockOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v: second derivatives are not implemented", op)
}

func (op rowBlockOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	if len(vs) != 1 {
		return nil, fmt.Errorf("%v: %d inputs, want 1", op, len(vs))
	}
	out := tensor.New(tensor.Of(vs[0].Dtype()), tensor.WithShape(op.rows, op.cols))
	return op.DoInto(out, vs...)
}

// DoInto copies the block into out.
func (op rowBlockOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	n := op.rows * op.cols
	src, err := denseValue(vs[0], op.k*n)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	if err := copyBlock(out, src, 0, op.block*n, n); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return out, nil
}

// denseValue returns v as a row-major dense tensor of size elements, copying a strided view.
func denseValue(v gorgonia.Value, size int) (*tensor.Dense, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("value %T is not a dense tensor", v)
	}
	if d.RequiresIterator() || d.IsView() {
		d = d.Materialize().(*tensor.Dense)
	}
	if d.Shape().TotalSize() != size {
		return nil, fmt.Errorf("value has shape %v, want %d elements", d.Shape(), size)
	}
	return d, nil
}

// copyBlock copies n elements of src from offset from into dst at offset to.
func copyBlock(dst, src *tensor.Dense, to, from, n int) error {
	switch d := dst.Data().(type) {
	case []float32:
		s, ok := src.Data().([]float32)
		if !ok {
			return fmt.Errorf("value is %v, want float32", src.Dtype())
		}
		copy(d[to:to+n], s[from:from+n])
	case []float64:
		s, ok := src.Data().([]float64)
		if !ok {
			return fmt.Errorf("value is %v, want float64", src.Dtype())
		}
		copy(d[to:to+n], s[from:from+n])
	default:
		return fmt.Errorf("unsupported dtype %v", dst.Dtype())
	}
	return nil
}

func hashOp(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}
