package rnn

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/data"
	"github.com/unroll-ml/unroll/graph"
)

// The models of this package save themselves as graph checkpoints (see graph.SaveCheckpoint):
// parameters, buffers, the random source and the training run (solver state, counters,
// history, the training data's position), plus the entry metaModel, a JSON description of the
// model (its kind and configuration), which LoadCheckpoint checks before anything changes.
// The language model adds its vocabulary and its carried recurrent state.

// metaModel is the checkpoint's entry (graph.Extra.Meta) describing the model that wrote it.
const metaModel = "model"

// modelExtra returns the checkpoint extra describing a model by spec, a struct with JSON tags.
func modelExtra(spec any) (*graph.Extra, error) {
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	return &graph.Extra{Meta: map[string]string{metaModel: string(js)}}, nil
}

// readModelCheckpoint reads a checkpoint and checks that a model described by spec wrote it.
func readModelCheckpoint(path, label string, spec any) (*graph.Checkpoint, error) {
	c, err := graph.ReadCheckpoint(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	want, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	got, ok := c.Extra.Meta[metaModel]
	switch {
	case !ok:
		return nil, fmt.Errorf("%s: checkpoint %s holds no model description (%q): not written by this kind of model (LoadWeights reads the weights of any file)", label, path, metaModel)
	case got != string(want):
		return nil, fmt.Errorf("%s: checkpoint %s holds another model: %s; this one is %s", label, path, got, want)
	}
	return c, nil
}

// sequenceData is a data.Sequences as graph.Fit takes it; its position is the iterator's.
type sequenceData struct {
	*data.Sequences
	set   *data.SequenceSet
	batch int
}

// Pass returns the iterator's current pass (or starts the next).
func (d *sequenceData) Pass() graph.Pass[*data.SequenceBatch] { return d.Sequences.Pass() }

// newSequenceData serves set in batches of batch sequences, in a new random order each epoch
// drawn from rng, the last batch of an epoch dropped when short if dropLast.
func newSequenceData(set *data.SequenceSet, batch int, rng *rand.Rand, dropLast bool) (*sequenceData, error) {
	opts := []data.BatchOption{data.Shuffle(rng)}
	if dropLast {
		opts = append(opts, data.DropLast())
	}
	s, err := data.NewSequences(set, batch, opts...)
	if err != nil {
		return nil, err
	}
	return &sequenceData{Sequences: s, set: set, batch: batch}, nil
}

// rowsOf copies rows [lo, hi) along the first axis of t, float32 or float64 (nil for nil).
func rowsOf(t *tensor.Dense, lo, hi int) *tensor.Dense {
	if t == nil {
		return nil
	}
	shape := t.Shape().Clone()
	per := shape.TotalSize() / shape[0]
	shape[0] = hi - lo
	var backing any
	switch d := t.Data().(type) {
	case []float32:
		backing = append([]float32(nil), d[lo*per:hi*per]...)
	case []float64:
		backing = append([]float64(nil), d[lo*per:hi*per]...)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(backing))
}

// Every model of the package is a graph.Learner, driven by graph.Fit.
var (
	_ graph.Learner[*data.SequenceBatch] = (*Net)(nil)
	_ graph.Learner[*data.SeqBatch]      = (*LanguageModel)(nil)
	_ graph.Learner[*data.SequenceBatch] = (*AR)(nil)
	_ graph.Learner[*data.SequenceBatch] = (*LatentAR)(nil)
)
