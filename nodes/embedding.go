package nodes

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
)

// Embedding maps token ids to learned vectors (PyTorch's nn.Embedding): the output for id v is
// row v of the weight E (V, D),
//
//	y[p] = E[ids[p]]
//
// which is the product of a one-hot row with E computed as a lookup. Its gradient adds each
// output gradient into the row it came from (a scatter-add): dE[v] = Σ_{p: ids[p] = v} dy[p].
//
// The ids are a node of the graph's float dtype (graph inputs are float) holding whole numbers
// in [0, V); any other value is an error when the graph runs, naming the layer, the value and
// its position. Parameter: "<name>.weight" (V, D), initialised from N(0, 1) as PyTorch does.
type Embedding struct {
	name       string
	vocab, dim int
}

// EmbeddingOption configures NewEmbedding.
type EmbeddingOption func(*embeddingConfig)

type embeddingConfig struct{ init graph.Init }

// EmbeddingInit replaces the weight's initialiser.
func EmbeddingInit(i graph.Init) EmbeddingOption {
	return func(c *embeddingConfig) { c.init = i }
}

// NewEmbedding creates an embedding of vocab ids into dim-wide vectors in ps.
func NewEmbedding(ps *graph.Params, name string, vocab, dim int, opts ...EmbeddingOption) (*Embedding, error) {
	if vocab < 1 || dim < 1 {
		return nil, fmt.Errorf("%s: embedding sizes must be positive, got vocabulary %d, dimension %d", name, vocab, dim)
	}
	cfg := embeddingConfig{init: graph.Normal(0, 1)}
	for _, o := range opts {
		o(&cfg)
	}
	if _, err := ps.Add(name+".weight", []int{vocab, dim}, cfg.init); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Embedding{name: name, vocab: vocab, dim: dim}, nil
}

// Name is the layer's name, the prefix of its parameter.
func (e *Embedding) Name() string { return e.name }

// Vocab is V, the number of ids.
func (e *Embedding) Vocab() int { return e.vocab }

// Dim is D, the width of the vectors.
func (e *Embedding) Dim() int { return e.dim }

// Forward maps ids of any shape (N...) to (N..., D); in an unrolled graph the ids of one step
// are (B) and the output (B, D).
func (e *Embedding) Forward(b *graph.Builder, ids *gorgonia.Node) (*gorgonia.Node, error) {
	if b == nil || ids == nil {
		return nil, fmt.Errorf("%s: nil builder or input", e.name)
	}
	if ids.Dtype() != b.Dtype() {
		return nil, fmt.Errorf("%s: ids are %v, the graph is %v", e.name, ids.Dtype(), b.Dtype())
	}
	if ids.Shape().IsScalar() {
		return nil, fmt.Errorf("%s: ids must have at least one dimension, have shape %v", e.name, ids.Shape())
	}
	w, err := b.Param(e.name + ".weight")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	op := &embedGatherOp{embedDims{name: e.name, vocab: e.vocab, dim: e.dim, ids: ids.Shape().Clone()}}
	y, err := gorgonia.ApplyOpWithName(op, b.Name(e.name+".lookup"), w, ids) // (N..., D)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	return y, nil
}

// embedDims are what the lookup and its gradient are built for.
type embedDims struct {
	name       string
	vocab, dim int
	ids        tensor.Shape
}

func (d embedDims) outShape() tensor.Shape { return append(d.ids.Clone(), d.dim) }

// embedIndex converts an id to a row index, or reports why it is not one.
func (d embedDims) embedIndex(v float64, pos int) (int, error) {
	if v != math.Trunc(v) || v < 0 || v >= float64(d.vocab) {
		return 0, fmt.Errorf("%s: id %v at position %d is not a whole number in [0, %d)", d.name, v, pos, d.vocab)
	}
	return int(v), nil
}

// embedGatherOp looks rows of the weight (V, D) up by ids (N...): output (N..., D).
type embedGatherOp struct{ embedDims }

func (op *embedGatherOp) Arity() int { return 2 }
func (op *embedGatherOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	n := len(op.ids)
	return hm.NewFnType(gorgonia.TensorType{Dims: 2, Of: a}, gorgonia.TensorType{Dims: n, Of: a}, gorgonia.TensorType{Dims: n + 1, Of: a})
}
func (op *embedGatherOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, []tensor.Shape{{op.vocab, op.dim}, op.ids}, ds); err != nil {
		return nil, err
	}
	return op.outShape(), nil
}
func (op *embedGatherOp) ReturnsPtr() bool     { return false }
func (op *embedGatherOp) CallsExtern() bool    { return false }
func (op *embedGatherOp) OverwritesInput() int { return -1 }
func (op *embedGatherOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "embedGather{%s V=%d D=%d ids=%v}", op.name, op.vocab, op.dim, op.ids)
}
func (op *embedGatherOp) Hashcode() uint32 { return cellHash(op) }
func (op *embedGatherOp) String() string {
	return fmt.Sprintf("embedding(%s, V=%d, D=%d)", op.name, op.vocab, op.dim)
}

func (op *embedGatherOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, 2)
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.outShape()...)), vs...)
}

// DoInto looks the rows up into out, a tensor of shape (N..., D).
func (op *embedGatherOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkCellValues(op, []tensor.Shape{{op.vocab, op.dim}, op.ids}, vs, out, op.outShape()); err != nil {
		return nil, err
	}
	var err error
	switch o := out.Data().(type) {
	case []float32:
		err = embedGather[float32](op.embedDims, o, vs)
	case []float64:
		err = embedGather[float64](op.embedDims, o, vs)
	default:
		err = fmt.Errorf("%v: unsupported dtype %v", op, out.Dtype())
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func embedGather[T cellFloat](d embedDims, out []T, vs []gorgonia.Value) error {
	in, err := cellSlices[T](cellLabel(d.name), vs)
	if err != nil {
		return err
	}
	w, ids := in[0], in[1]
	D := d.dim
	for p, v := range ids {
		row, err := d.embedIndex(float64(v), p)
		if err != nil {
			return err
		}
		copy(out[p*D:(p+1)*D], w[row*D:(row+1)*D])
	}
	return nil
}

func (op *embedGatherOp) DiffWRT(int) []bool { return []bool{true, false} }

// SymDiff adds the scatter-add of the output gradient into a (V, D) weight gradient; the ids
// have no gradient.
func (op *embedGatherOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 2 {
		return nil, fmt.Errorf("%v: symdiff with %d inputs, want 2", op, len(inputs))
	}
	dw, err := gorgonia.ApplyOp(&embedScatterOp{op.embedDims}, inputs[1], grad)
	if err != nil {
		return nil, fmt.Errorf("%v: backward: %w", op, err)
	}
	return gorgonia.Nodes{dw, nil}, nil
}

// embedScatterOp is the lookup's backward: from ids (N...) and the output gradient (N..., D)
// it returns the weight gradient (V, D), each output gradient added into its id's row.
type embedScatterOp struct{ embedDims }

func (op *embedScatterOp) Arity() int { return 2 }
func (op *embedScatterOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	n := len(op.ids)
	return hm.NewFnType(gorgonia.TensorType{Dims: n, Of: a}, gorgonia.TensorType{Dims: n + 1, Of: a}, gorgonia.TensorType{Dims: 2, Of: a})
}
func (op *embedScatterOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := checkCellShapes(op, []tensor.Shape{op.ids, op.outShape()}, ds); err != nil {
		return nil, err
	}
	return tensor.Shape{op.vocab, op.dim}, nil
}
func (op *embedScatterOp) ReturnsPtr() bool     { return false }
func (op *embedScatterOp) CallsExtern() bool    { return false }
func (op *embedScatterOp) OverwritesInput() int { return -1 }
func (op *embedScatterOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "embedScatter{%s V=%d D=%d ids=%v}", op.name, op.vocab, op.dim, op.ids)
}
func (op *embedScatterOp) Hashcode() uint32 { return cellHash(op) }
func (op *embedScatterOp) String() string {
	return fmt.Sprintf("embeddingGrad(%s, V=%d, D=%d)", op.name, op.vocab, op.dim)
}

func (op *embedScatterOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	dt, err := cellDtype(op, vs, 2)
	if err != nil {
		return nil, err
	}
	return op.DoInto(tensor.New(tensor.Of(dt), tensor.WithShape(op.vocab, op.dim)), vs...)
}

// DoInto scatter-adds into out, a (V, D) tensor it first zeroes.
func (op *embedScatterOp) DoInto(out *tensor.Dense, vs ...gorgonia.Value) (gorgonia.Value, error) {
	if err := checkCellValues(op, []tensor.Shape{op.ids, op.outShape()}, vs, out, tensor.Shape{op.vocab, op.dim}); err != nil {
		return nil, err
	}
	var err error
	switch o := out.Data().(type) {
	case []float32:
		err = embedScatter[float32](op.embedDims, o, vs)
	case []float64:
		err = embedScatter[float64](op.embedDims, o, vs)
	default:
		err = fmt.Errorf("%v: unsupported dtype %v", op, out.Dtype())
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func embedScatter[T cellFloat](d embedDims, out []T, vs []gorgonia.Value) error {
	in, err := cellSlices[T](cellLabel(d.name), vs)
	if err != nil {
		return err
	}
	ids, g := in[0], in[1]
	D := d.dim
	clear(out)
	for p, v := range ids {
		row, err := d.embedIndex(float64(v), p)
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
