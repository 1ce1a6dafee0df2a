package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// embedDims are what the lookup and its gradient are built for.
type embedDims struct {
	name       string
	vocab, dim int
	ids        tensor.Shape
}

func (d embedDims) outShape() tensor.Shape { return append(d.ids.Clone(), d.dim) }

// index converts an id to a row index, or reports why it is not one.
func (d embedDims) index(v float64, pos int) (int, error) {
	if v != math.Trunc(v) || v < 0 || v >= float64(d.vocab) {
		return 0, fmt.Errorf("%s: id %v at position %d is not a whole number in [0, %d)", d.name, v, pos, d.vocab)
	}
	return int(v), nil
}

// Embedding adds the lookup of the rows of w (V, D) by ids (N...) to w's graph: output
// (N..., D). layer names the embedding in errors about bad ids.
func Embedding(layer string, w, ids *gorgonia.Node, name string) (*gorgonia.Node, error) {
	s := w.Shape()
	if len(s) != 2 {
		return nil, fmt.Errorf("%s: weight must be (vocab, dim), has shape %v", layer, s)
	}
	return Apply(embedGatherOp{embedDims: embedDims{name: layer, vocab: s[0], dim: s[1], ids: ids.Shape().Clone()}}, name, w, ids)
}

// embedGatherOp looks rows of the weight (V, D) up by ids (N...): output (N..., D).
type embedGatherOp struct {
	base
	embedDims
}

func (op embedGatherOp) Arity() int    { return 2 }
func (op embedGatherOp) Type() hm.Type { return fnType(len(op.ids)+1, 2, len(op.ids)) }
func (op embedGatherOp) shapes() []tensor.Shape {
	return []tensor.Shape{{op.vocab, op.dim}, op.ids}
}
func (op embedGatherOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op, op.shapes(), ds); err != nil {
		return nil, err
	}
	return op.outShape(), nil
}
func (op embedGatherOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.embedding{%s V=%d D=%d ids=%v}", op.name, op.vocab, op.dim, op.ids)
}
func (op embedGatherOp) Hashcode() uint32 { return hashOf(op) }
func (op embedGatherOp) String() string {
	return fmt.Sprintf("embedding(%s, V=%d, D=%d)", op.name, op.vocab, op.dim)
}

func (op embedGatherOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, vs...)
}

// DoInto looks the rows up into out, a tensor of shape (N..., D).
func (op embedGatherOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sizedInto(op, out, vs, op.shapes(), op.outShape())
	if err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts, embedGather[float32](op.embedDims), embedGather[float64](op.embedDims))
}

func embedGather[T Float](d embedDims) func(out []T, in [][]T) error {
	return func(out []T, in [][]T) error {
		w, ids := in[0], in[1]
		D := d.dim
		for p, v := range ids {
			row, err := d.index(float64(v), p)
			if err != nil {
				return err
			}
			copy(out[p*D:(p+1)*D], w[row*D:(row+1)*D])
		}
		return nil
	}
}

func (op embedGatherOp) DiffWRT(int) []bool { return []bool{true, false} }

// SymDiff adds the scatter-add of the output gradient into a (V, D) weight gradient; the ids
// have no gradient.
func (op embedGatherOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 2 {
		return nil, fmt.Errorf("%v: symdiff with %d inputs, want 2", op, len(inputs))
	}
	dw, err := Apply(embedScatterOp{embedDims: op.embedDims}, gradName(output, "w"), inputs[1], grad)
	if err != nil {
		return nil, fmt.Errorf("%v: backward: %w", op, err)
	}
	return gorgonia.Nodes{dw, nil}, nil
}

// embedScatterOp is the lookup's backward: from ids (N...) and the output gradient (N..., D)
// it returns the weight gradient (V, D), each output gradient added into its id's row.
type embedScatterOp struct {
	base
	backward
	embedDims
}

func (op embedScatterOp) Arity() int    { return 2 }
func (op embedScatterOp) Type() hm.Type { return fnType(2, len(op.ids), len(op.ids)+1) }
func (op embedScatterOp) shapes() []tensor.Shape {
	return []tensor.Shape{op.ids, op.outShape()}
}
func (op embedScatterOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkShapes(op, op.shapes(), ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.vocab, op.dim}, nil
}
func (op embedScatterOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "unroll.embedding.dw{%s V=%d D=%d ids=%v}", op.name, op.vocab, op.dim, op.ids)
}
func (op embedScatterOp) Hashcode() uint32 { return hashOf(op) }
func (op embedScatterOp) String() string {
	return fmt.Sprintf("embeddingGrad(%s, V=%d, D=%d)", op.name, op.vocab, op.dim)
}

func (op embedScatterOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return op.DoInto(nil, vs...)
}

// DoInto scatter-adds into out, a (V, D) tensor it first zeroes.
func (op embedScatterOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	ts, out, dt, err := sizedInto(op, out, vs, op.shapes(), []int{op.vocab, op.dim})
	if err != nil {
		return nil, err
	}
	return computeInto(dt, out, ts, embedScatter[float32](op.embedDims), embedScatter[float64](op.embedDims))
}

func embedScatter[T Float](d embedDims) func(out []T, in [][]T) error {
	return func(out []T, in [][]T) error {
		ids, g := in[0], in[1]
		D := d.dim
		clear(out)
		for p, v := range ids {
			row, err := d.index(float64(v), p)
			if err != nil {
				return err
			}
			dst, src := out[row*D:(row+1)*D], g[p*D:(p+1)*D]
			for j := range dst {
				dst[j] += src[j]
			}
		}
		return nil
	}
}
