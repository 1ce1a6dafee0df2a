package nodes

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/unroll-ml/unroll/graph"
	"github.com/unroll-ml/unroll/nodes/internal/ops"
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
	y, err := ops.Embedding(e.name, w, ids, b.Name(e.name+".lookup")) // (N..., D)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	return y, nil
}
